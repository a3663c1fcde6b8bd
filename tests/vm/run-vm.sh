#!/bin/bash
# Boot the p2pverbs kernel under QEMU (q35, TCG) with a named PCI topology, run
# a host script inside the guest as root and exit with its status.
#
# The guest's root is the host's root over 9p, read-only, under a tmpfs
# overlay: every host binary, the repository and the build trees are visible at
# the same paths, and what the guest writes stays in the guest.  A per-run
# directory is shared writable: the script finds it in $P2PV_RESULTS and the
# guest writes its exit status there, so a guest that never booted or panicked
# cannot look like a pass.
usage() {
	cat <<'EOU'
usage: run-vm.sh [options] -- SCRIPT [ARGS...]
  --topology NAME   rc (default): nvme with CMB, ivshmem-plain and edu on the root complex
                    switch:    each below a downstream port of one PCIe switch
                    rootports: each on its own PCIe root port
  --iommu           add intel-iommu (guest: intel_iommu=on)
  --cpu amd|intel   EPYC (default; host bridge P2P allowed) or an Intel model (refused)
  --ivshmem-mb N    size of the ivshmem BAR in MiB (default 64; a power of two)
  --debug           boot the debug kernel flavour (KASAN, lockdep, kmemleak)
  --timeout SEC     give up after SEC seconds (default 600)
  --name NAME       name of the run: its directory is $P2PV_LOGDIR/NAME
  --qemu-arg ARG    extra QEMU argument (repeatable)
  --monitor-relay   relay QEMU monitor commands the guest asks for (qemu_monitor
                    in guest/lib.sh): pcie_aer_inject_error, device_del...
  --peer-net listen:PORT|connect:PORT
                    add a virtio-net NIC on a QEMU socket backend on 127.0.0.1:PORT
                    (one guest listens, the other connects; see two-hosts.sh)
Environment: P2PV_LOGDIR (default <repo>/build/vm-logs), P2PV_BUILD (CMake build
dir, default <repo>/build), P2PV_KERNEL (a bzImage to boot instead of building),
P2PV_KERNEL_SRC (its source tree, for the kselftests),
P2PV_VERBOSE=1 copies the console to stderr.
EOU
	exit 2
}
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

topology=rc iommu=0 cpu=amd debug=0 timeout=600 name= extra=() peer_net= ivshmem_mb=64
monitor_relay=0
while [ $# -gt 0 ]; do
	case "$1" in
	--topology) topology=$2; shift 2 ;;
	--iommu) iommu=1; shift ;;
	--cpu) cpu=$2; shift 2 ;;
	--ivshmem-mb) ivshmem_mb=$2; shift 2 ;;
	--debug) debug=1; shift ;;
	--timeout) timeout=$2; shift 2 ;;
	--name) name=$2; shift 2 ;;
	--qemu-arg) extra+=("$2"); shift 2 ;;
	--peer-net) peer_net=$2; shift 2 ;;
	--monitor-relay) monitor_relay=1; shift ;;
	--) shift; break ;;
	*) usage ;;
	esac
done
[ $# -ge 1 ] || usage
script=$(realpath "$1")
shift
[ -r "$script" ] || { echo "run-vm: $script: not readable" >&2; exit 2; }

log() { echo "run-vm: $*" >&2; }

if [ -z "$name" ]; then
	name=$(basename "$script" .sh)-$topology
	[ "$iommu" = 0 ] || name+=-iommu
	[ "$cpu" = amd ] || name+=-$cpu
fi
logdir=${P2PV_LOGDIR:-$repo/build/vm-logs}
rundir="$logdir/$name"
rm -rf "$rundir"
mkdir -p "$rundir"
console="$rundir/console.log"
truncate -s 64M "$rundir/nvme0.img"

# --- the machine -----------------------------------------------------------
qemu=(qemu-system-x86_64 -machine q35 -accel tcg,thread=multi -smp 2 -m 2048
	-display none -vga none -nic none -no-reboot)
# panic_on_warn: a WARN (and a KASAN report) stops the guest at once, so no
# test can pass over it; printk.time marks the kernel's own console lines,
# which is how the verdict below tells them from the test's output.
# no_timer_check: at boot the kernel checks that the 8254 timer ticks through
# the IO-APIC within a busy-wait calibrated on the host's speed of the moment;
# under TCG on a loaded host the ticks come late and the check panics
# ("IO-APIC + timer doesn't work!") before any test ran.  Virtual machines
# skip that check as a rule (the timer is the emulator's, not a board's).
cmdline="console=ttyS0 panic=-1 oops=panic panic_on_warn=1 printk.time=1 no_timer_check"

case "$cpu" in
amd) qemu+=(-cpu EPYC) ;;
intel) qemu+=(-cpu Skylake-Client) ;;
*) usage ;;
esac

if [ "$iommu" = 1 ]; then
	# Before the endpoints, so that every one of them is translated.
	qemu+=(-device intel-iommu,intremap=off)
	cmdline+=" intel_iommu=on iommu.strict=1"
fi

# place_devices BUS_NVME BUS_IVSHMEM BUS_EDU (the ivshmem and the NVMe have
# ids, so that the monitor can name them: device_del p2pv-ivshmem)
place_devices() {
	qemu+=(-drive "file=$rundir/nvme0.img,if=none,id=nvme0,format=raw"
		-device "nvme,id=p2pv-nvme,serial=p2pv-nvme0,drive=nvme0,cmb_size_mb=64,bus=$1"
		-object memory-backend-ram,id=ivshmem0,size=${ivshmem_mb}M,share=on
		-device "ivshmem-plain,id=p2pv-ivshmem,memdev=ivshmem0,bus=$2"
		-device "edu,dma_mask=0xffffffffffffffff,bus=$3")
}

case "$topology" in
rc)
	place_devices pcie.0 pcie.0 pcie.0 ;;
switch)
	qemu+=(-device pcie-root-port,id=rp0,bus=pcie.0,chassis=1,slot=0
		-device x3130-upstream,id=up0,bus=rp0)
	for i in 0 1 2; do
		qemu+=(-device "xio3130-downstream,id=dn$i,bus=up0,chassis=$((10 + i)),slot=0")
	done
	place_devices dn0 dn1 dn2 ;;
rootports)
	for i in 0 1 2; do
		qemu+=(-device "pcie-root-port,id=rp$i,bus=pcie.0,chassis=$((1 + i)),slot=0")
	done
	place_devices rp0 rp1 rp2 ;;
*) usage ;;
esac

# A link to a second guest: a socket backend on loopback only, one side
# listening, the other connecting; distinct MACs so the two ends differ.
case "$peer_net" in
'') ;;
listen:[0-9]*|connect:[0-9]*)
	peer_mode=${peer_net%%:*} peer_port=${peer_net#*:}
	[[ "$peer_port" =~ ^[0-9]+$ ]] || usage
	if [ "$peer_mode" = listen ]; then peer_mac=52:54:00:70:32:01; else peer_mac=52:54:00:70:32:02; fi
	qemu+=(-netdev "socket,id=peer,$peer_mode=127.0.0.1:$peer_port"
		-device "virtio-net-pci,netdev=peer,mac=$peer_mac") ;;
*) usage ;;
esac

# --- what to boot and run --------------------------------------------------
if [ -n "${P2PV_KERNEL:-}" ]; then
	kernel=$P2PV_KERNEL
elif [ "$debug" = 1 ]; then
	kernel=$("$here/build-kernel.sh" --debug)
else
	kernel=$("$here/build-kernel.sh")
fi
prefix=$("$here/build-userspace.sh")
# The source of the kernel booted, whose kselftests the guest builds: the
# tree build-kernel.sh made (<tree>/build/arch/x86/boot/bzImage beside
# <tree>/src), or P2PV_KERNEL_SRC for a kernel given by P2PV_KERNEL.
if [ -n "${P2PV_KERNEL:-}" ]; then
	kernel_src=${P2PV_KERNEL_SRC:-}
else
	kernel_src=$(cd "$(dirname "$kernel")/../../../.." && pwd)/src
fi


# The guest reads these; paths are the same on both sides of the 9p share.
{
	printf 'export P2PV_REPO=%q\n' "$repo"
	printf 'export P2PV_BUILD=%q\n' "${P2PV_BUILD:-$repo/build}"
	printf 'export P2PV_SANITIZE_BUILD=%q\n' "${P2PV_SANITIZE_BUILD:-${P2PV_BUILD:-$repo/build}/sanitize}"
	printf 'export P2PV_PREFIX=%q\n' "$prefix"
	printf 'export P2PV_TOPOLOGY=%q P2PV_IOMMU=%q P2PV_CPU=%q\n' "$topology" "$iommu" "$cpu"
	printf 'export P2PV_DEBUG_KERNEL=%q\n' "$debug"
	printf 'export P2PV_KERNEL_SRC=%q\n' "$kernel_src"
	printf '%q ' bash "$script" "$@"
	echo
} >"$rundir/command"

qemu+=(-kernel "$kernel"
	-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap
	-virtfs "local,path=$rundir,mount_tag=p2pv_results,security_model=none"
	-serial "file:$console"
	-monitor "unix:$rundir/monitor.sock,server=on,wait=off"
	"${extra[@]}")
cmdline+=" root=hostroot rootfstype=9p rootflags=trans=virtio,version=9p2000.L,msize=524288,cache=loose ro"
cmdline+=" init=$here/guest/init.sh P2PV_RESULTS_DIR=$rundir"

log "$name: booting $(basename "$(dirname "$(dirname "$(dirname "$(dirname "$kernel")")")")") (console: $console)"
tail_pid=
if [ "${P2PV_VERBOSE:-0}" = 1 ]; then
	touch "$console"
	tail -n +1 -f "$console" >&2 &
	tail_pid=$!
fi
# The guest writes one monitor command into monitor-request of its results
# directory; the relay sends it to the monitor socket and leaves the answer in
# monitor-reply (the protocol of two-hosts.sh, which relays for its guests).
relay_pid=
if [ "$monitor_relay" = 1 ]; then
	(
		req=$rundir/monitor-request
		while :; do
			if [ -s "$req" ]; then
				python3 "$here/monitor-command.py" "$rundir/monitor.sock" "$(cat "$req")" \
					>"$rundir/monitor-reply.tmp" 2>&1 || true
				rm -f "$req"
				mv "$rundir/monitor-reply.tmp" "$rundir/monitor-reply"
			fi
			sleep 0.2
		done
	) &
	relay_pid=$!
fi
start=$(date +%s)
set +e
timeout --kill-after=10 "$timeout" "${qemu[@]}" -append "$cmdline" </dev/null >"$rundir/qemu.log" 2>&1
qemu_rc=$?
set -e
[ -n "$tail_pid" ] && kill "$tail_pid" 2>/dev/null
if [ -n "$relay_pid" ]; then
	kill "$relay_pid" 2>/dev/null
	wait "$relay_pid" 2>/dev/null || true
fi
elapsed=$(($(date +%s) - start))

show_tail() {
	echo "---- last 40 lines of $console ----" >&2
	tail -n 40 "$console" >&2 || true
	echo "---- qemu ----" >&2
	tail -n 10 "$rundir/qemu.log" >&2 || true
}
# The kernel's reports fail a run whatever its script said: warnings and
# KASAN reports panic the guest (panic_on_warn), but lockdep, kmemleak,
# hung-task and RCU-stall reports are only printed.  Lockdep's reports all
# start "WARNING: ..." (circular, recursive, inconsistent state, suspicious
# RCU usage, bad unlock balance); after one it says it turned itself off.
# The plain word "lockdep" is no report: the debug flavour boots with "RCU
# lockdep checking is enabled".  Only kernel lines count (printk.time stamps
# them): a test may print these words itself.
kernel_line='^\[ *[0-9]+\.[0-9]+\] '
report_re='WARNING:|BUG:|Oops|KASAN:|UBSAN:|lockdep is turned off|Kernel panic|kernel BUG|general protection fault|suspected memory leak|INFO: task .* blocked|rcu: INFO:'
kernel_reports() {
	grep -aE "$kernel_line" "$console" | grep -aE "$report_re" || true
}
# clean_end: after init's "test exited" line the kernel printed its
# "reboot: Power down", so nothing crashed in late work or device shutdown.
clean_end() {
	KL=$kernel_line awk '
		/^init: test exited with status / { exited = 1; down = 0; next }
		exited && $0 ~ ENVIRON["KL"] && /reboot: Power down/ { down = 1 }
		END { exit !down }' "$console"
}

if [ "$qemu_rc" = 124 ] || [ "$qemu_rc" = 137 ]; then
	log "$name: TIMEOUT: the guest did not finish within $timeout s"
	show_tail
	exit 124
fi
reports=$(kernel_reports)
[ -z "$reports" ] || { log "$name: the kernel reported:"; echo "$reports" | head -n 20 >&2; }
if [ ! -s "$rundir/rc" ]; then
	log "$name: the guest stopped without reporting a result (qemu exit $qemu_rc; panic or crash?)"
	show_tail
	exit 125
fi
rc=$(cat "$rundir/rc")
if [ -n "$reports" ]; then
	log "$name: FAILED: kernel warnings or checker reports in the console (test status $rc)"
	show_tail
	exit 126
fi
if [ "$rc" != 0 ]; then
	log "$name: FAILED with status $rc after $elapsed s"
	show_tail
	exit "$rc"
fi
if ! clean_end; then
	log "$name: FAILED: the test passed but the guest did not power down cleanly (no \"reboot: Power down\" after it)"
	show_tail
	exit 125
fi
log "$name: passed in $elapsed s (boot to test: $(cat "$rundir/boot-seconds" 2>/dev/null || echo ?) s)"
exit 0
