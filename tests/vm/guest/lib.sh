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

# peer_link ROLE: this guest's side of the link of tests/vm/two-hosts.sh
# (ROLE server or client).  Finds the virtio-net NIC ($nic), brings up lo
# (PMIx and ORTE need it) and the NIC with an IPv6 unique-local address on
# the isolated link ($my_addr; fd70:3270:7665::1 server, ::2 client), names
# the guests p2pv-server and p2pv-client (hostname and /etc/hosts: ORTE
# refuses the kernel's "(none)") and puts rxe0 on the NIC.  Sets $peer,
# $peer_addr and $server_addr.
peer_link() {
	local role=$1 n net=fd70:3270:7665
	nic=
	for n in /sys/class/net/*; do
		[ "$(basename "$(readlink -f "$n/device/driver" 2>/dev/null)")" = virtio_net ] && nic=$(basename "$n")
	done
	[ -n "$nic" ] || fail "no virtio_net NIC (run-vm.sh --peer-net?): $(ls /sys/class/net)"
	server_addr=$net::1
	if [ "$role" = server ]; then
		my_addr=$server_addr peer_addr=$net::2 peer=p2pv-client
	else
		my_addr=$net::2 peer_addr=$server_addr peer=p2pv-server
	fi
	hostname "p2pv-$role"
	printf '127.0.0.1 localhost\n::1 localhost\n%s p2pv-server\n%s p2pv-client\n' \
		"$server_addr" "$net::2" >/etc/hosts

	ip link set lo up
	sysctl -qw net.ipv6.conf.default.accept_dad=0 "net.ipv6.conf.$nic.accept_dad=0"
	ip link set "$nic" up
	ip -6 addr add "$my_addr/64" dev "$nic" nodad
	rdma link add rxe0 type rxe netdev "$nic"
	wait_for 30 port_active rxe0 || fail "rxe0 port did not become active"
}

# peer_sshd KEYDIR: an ssh server on this guest's link address with the host
# key of the run, and root's ssh client set up to log in to the other guest
# with the run's user key (both generated by tests/vm/two-hosts.sh), host keys
# checked.  What mpirun needs to start its daemon on the other host.
peer_sshd() {
	local keys=$1 conf=/run/p2pv-sshd_config
	[ -r "$keys/host_ed25519" ] && [ -r "$keys/id_ed25519.pub" ] ||
		fail "no ssh keys in $keys (tests/vm/two-hosts.sh makes them)"
	install -d -m 700 /root/.ssh /run/p2pv-ssh
	install -d -m 755 /run/sshd
	install -m 600 "$keys/host_ed25519" /run/p2pv-ssh/host_ed25519
	install -m 600 "$keys/id_ed25519" /root/.ssh/id_ed25519
	install -m 600 "$keys/id_ed25519.pub" /root/.ssh/authorized_keys
	printf 'p2pv-server,p2pv-client,%s,%s %s\n' "$server_addr" "${server_addr%::1}::2" \
		"$(cut -d' ' -f1,2 "$keys/host_ed25519.pub")" >/root/.ssh/known_hosts
	printf 'Host p2pv-*\n  IdentityFile /root/.ssh/id_ed25519\n  StrictHostKeyChecking yes\n  BatchMode yes\n' \
		>/root/.ssh/config
	cat >"$conf" <<EOC
ListenAddress $my_addr
HostKey /run/p2pv-ssh/host_ed25519
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PidFile /run/p2pv-sshd.pid
EOC
	/usr/sbin/sshd -f "$conf" || fail "sshd did not start"
	wait_for 20 ss -Hltn "src [$my_addr]:22" || fail "sshd does not listen on [$my_addr]:22"
}

# The client's side waits (peer_wait_released SECONDS) until the server,
# which drives both guests over ssh, releases it (peer_release); then its
# script ends and its guest powers off.
peer_released=/run/p2pv-peer-released
peer_wait_released() { wait_for "$1" test -e "$peer_released"; }
peer_release() { ssh p2pv-client touch "$peer_released"; }

# "${mpirun_ucx[@]}" PROGRAM ARGS...: Debian's mpirun with one rank on each
# guest, over UCX on rxe0, with the settings docs/user-guide.md ("MPI, UCX
# and libfabric on P2P memory") explains one by one.  Debian's rdma-core, UCX
# and Open MPI on both ranks, as a cluster has them: not the project's
# rdma-core prefix that this file puts on LD_LIBRARY_PATH.
mpirun_ucx=(env -u LD_LIBRARY_PATH mpirun --allow-run-as-root
	-np 2 -H p2pv-server,p2pv-client --map-by node
	--mca pml ucx --mca osc ucx --mca btl ^openib
	-x UCX_TLS=rc_verbs,ud_verbs,self -x UCX_NET_DEVICES=rxe0:1
	-x UCX_RNDV_THRESH=65536 -x UCX_RNDV_SCHEME=get_zcopy
	-x UCX_IB_PCI_RELAXED_ORDERING=off)

# qemu_monitor COMMAND: run COMMAND in this guest's QEMU monitor and print its
# answer; needs run-vm.sh --monitor-relay (the request and the reply travel
# through the shared results directory)
qemu_monitor() {
	local req=$P2PV_RESULTS/monitor-request reply=$P2PV_RESULTS/monitor-reply
	rm -f "$reply"
	echo "$1" >"$req.tmp"
	mv "$req.tmp" "$req"
	wait_for 60 test -e "$reply" || fail "no answer from the QEMU monitor to '$1' (run-vm.sh --monitor-relay?)"
	cat "$reply"
}
