# Helpers for in-guest tests; sourced by tests/vm/guest/*.sh.
# shellcheck shell=bash
set -euo pipefail

export PATH="$P2PV_PREFIX/bin:$PATH"
export LD_LIBRARY_PATH="$P2PV_PREFIX/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

# find_prog NAME [BUILD]: an in-guest test program of the CMake build tree
# BUILD (default: the plain build, $P2PV_BUILD)
find_prog() {
	local p=${2:-$P2PV_BUILD}/tests/vm/progs/$1
	[ -x "$p" ] || fail "$1 is not built: no $p"
	echo "$p"
}

# wait_for SECONDS CMD...: poll CMD every 0.2 s until it succeeds
wait_for() {
	local deadline=$(($(date +%s) + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -lt "$deadline" ] || return 1
		sleep 0.2
	done
}

# rxe_pair: two soft-RoCE devices, rxe0 on veth0 and rxe1 on veth1, talking over
# the veth pair with their default (IPv6 link-local) GIDs, index 0.
rxe_pair() {
	# set up already by an earlier script in this guest (debug-checks.sh)
	[ -e /sys/class/infiniband/rxe0 ] && [ -e /sys/class/infiniband/rxe1 ] && return 0
	ip link set lo up
	sysctl -qw net.ipv6.conf.default.accept_dad=0
	ip link add veth0 type veth peer name veth1
	ip link set veth0 up
	ip link set veth1 up
	rdma link add rxe0 type rxe netdev veth0
	rdma link add rxe1 type rxe netdev veth1
	wait_for 20 port_active rxe0 || fail "rxe0 port did not become active"
	wait_for 20 port_active rxe1 || fail "rxe1 port did not become active"
}

# listening PORT: a TCP socket listens on PORT (a perftest or pingpong server
# is ready for its client: a fixed sleep races a loaded machine)
listening() { ss -Hltn "sport = :$1" | grep -q .; }

# cm_listening: an RDMA CM id listens (ib_*_bw -R server ready)
cm_listening() { rdma resource show cm_id 2>/dev/null | grep -q LISTEN; }

port_active() {
	ibv_devinfo -d "$1" | grep -q 'state:.*PORT_ACTIVE'
}

# pci_devs VENDOR:DEVICE: the PCI addresses of every such function
pci_devs() {
	local d
	for d in /sys/bus/pci/devices/*; do
		[ "$(cat "$d/vendor"):$(cat "$d/device")" = "0x${1%%:*}:0x${1##*:}" ] && basename "$d"
	done
	return 0
}

# rc_functions: the PCI addresses of the rc topology's NVMe controller,
# ivshmem and edu in $nvme, $ivshmem and $edu, once both providers' nodes
# are there
rc_functions() {
	local p
	nvme=$(pci_devs 1b36:0010)
	ivshmem=$(pci_devs 1af4:1110)
	edu=$(pci_devs 1234:11e8)
	[ -n "$nvme" ] && [ -n "$ivshmem" ] && [ -n "$edu" ] ||
		fail "expected nvme, ivshmem and edu, have: $(ls /sys/bus/pci/devices)"
	for p in $nvme $ivshmem; do
		wait_for 30 test -c "/dev/p2pmem/$p" || fail "no /dev/p2pmem/$p"
	done
}

# Kernel checkers of the debug flavour.  kmemleak_begin forgets what kmemleak
# reported before the test (boot-time noise) and must run before the
# workload: "clear" hides every leak reported so far.  kmemleak_count scans
# twice (an object counts once it stayed unreferenced across scans) and
# prints the number of reports; it fails when the kernel has no kmemleak or
# kmemleak refuses a request (it turns itself off after an internal error),
# so an unchecked run can never read as "0 leaks".
kmemleak=/sys/kernel/debug/kmemleak
kmemleak_begin() {
	[ "${P2PV_DEBUG_KERNEL:-0}" = 1 ] || return 0
	[ -w "$kmemleak" ] || fail "the debug flavour has no $kmemleak"
	echo clear >"$kmemleak" || fail "kmemleak refused \"clear\""
}
kmemleak_count() {
	[ -w "$kmemleak" ] || { echo "kmemleak_count: no $kmemleak in this kernel" >&2; return 1; }
	sleep 6
	echo scan >"$kmemleak" || { echo "kmemleak_count: kmemleak refused a scan" >&2; return 1; }
	sleep 6
	echo scan >"$kmemleak" || { echo "kmemleak_count: kmemleak refused a scan" >&2; return 1; }
	grep -c '^unreferenced object' "$kmemleak" || true
}
# leak_check WHAT: on the debug flavour, fail unless kmemleak scanned and
# found nothing; on the release flavour (no kmemleak) say that leaks were
# not checked rather than count them as none.
leak_check() {
	local leaks
	if [ "${P2PV_DEBUG_KERNEL:-0}" != 1 ]; then
		echo "$1: release flavour, no kmemleak: leaks not checked here (the debug flavour does)"
		return 0
	fi
	leaks=$(kmemleak_count) || fail "$1: kmemleak could not scan"
	echo "$1: kmemleak reports $leaks"
	[ "$leaks" = 0 ] || { cat "$kmemleak"; fail "$1: $leaks kmemleak reports"; }
}
# splat_count: kernel warnings, oopses and checker reports in the log
splat_count() {
	dmesg | grep -cE 'BUG:|WARNING:|Oops|KASAN|possible circular locking|suspicious RCU|inconsistent lock state' || true
}
