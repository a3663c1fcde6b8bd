#!/bin/bash
# PCI error recovery of the device below a switch port: inject a fatal error
# (Malformed TLP) into the QEMU port PORT through the monitor and wait until
# the kernel's AER driver reports the recovery successful.  With PROVIDER,
# check that the provider revoked its P2P memory dma-bufs before recovery
# reset the link (kernel log order).
#
# QEMU 7.2's nvme, ivshmem and edu have no AER capability of their own, so
# the error goes into the downstream port above the device: recovery of an
# error at a downstream port resets its link, the slot of the device below,
# as it does for an error reported by the device.  Below a root port instead
# (--topology rootports) recovery fails in QEMU 7.2: its root port does not
# report the link active after the secondary bus reset.  Hence --topology
# switch (dn0 above the NVMe, dn1 above ivshmem, dn2 above the edu; see
# run-vm.sh) and --monitor-relay.
#
# usage: aer-inject.sh PORT [PROVIDER]
. "$(dirname "$0")/lib.sh"
port=$1 provider=${2:-}

# recovered_after N: a recovery succeeded after kernel log line N
recovered_after() {
	dmesg | tail -n +"$(($1 + 1))" | grep -q 'AER: device recovery successful'
}

start=$(dmesg | wc -l)
reply=$(qemu_monitor "pcie_aer_inject_error $port MALF_TLP")
case $reply in
OK*) ;;
*) fail "pcie_aer_inject_error $port: $reply" ;;
esac
wait_for 120 recovered_after "$start" ||
	{ dmesg | tail -n +"$((start + 1))"; fail "no successful AER recovery after the error injected into $port"; }
if [ -n "$provider" ]; then
	log=$(dmesg | tail -n +"$((start + 1))")
	revoked=$(grep -n "$provider: revoked [0-9]* P2P memory dma-buf" <<<"$log" | head -n 1 | cut -d: -f1 || true)
	reset=$(grep -n 'AER: Downstream Port link has been reset' <<<"$log" | head -n 1 | cut -d: -f1 || true)
	[ -n "$revoked" ] || { echo "$log"; fail "$provider revoked nothing during the recovery"; }
	if [ -z "$reset" ] || [ "$revoked" -gt "$reset" ]; then
		echo "$log"
		fail "$provider revoked its buffers after the link reset, not before"
	fi
fi
echo "ok: error injected into $port, recovered${provider:+, $provider revoked its buffers before the link reset}"
