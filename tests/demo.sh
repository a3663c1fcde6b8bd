#!/bin/bash
# The p2pverbs demo: boot our kernel under QEMU and run ib_write_bw between two
# soft-RoCE (rxe) devices inside it, on host memory and then on PCI P2P memory
# (--use_p2p=auto), and print both reports.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
logdir=${P2PV_LOGDIR:-$repo/build/vm-logs}
bash "$repo/tests/setup.sh" >/dev/null
P2PV_LOGDIR=$logdir bash "$repo/tests/vm/run-vm.sh" --name demo -- "$repo/tests/vm/guest/demo.sh"
for run in host p2p; do
	echo "==== ib_write_bw, 64 KiB, $run memory ===="
	cat "$logdir/demo/$run.txt"
done
