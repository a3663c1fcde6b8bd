#!/bin/bash
# The p2pverbs demo: boot our kernel under QEMU and run ib_write_bw between two
# soft-RoCE (rxe) devices inside it, then print perftest's report.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
logdir=${P2PV_LOGDIR:-$repo/build/vm-logs}
bash "$repo/tests/setup.sh" >/dev/null
P2PV_LOGDIR=$logdir bash "$repo/tests/vm/run-vm.sh" --name demo -- "$repo/tests/vm/guest/demo.sh"
cat "$logdir/demo/ib_write_bw.txt"
