#!/bin/bash
# Checks run-vm.sh itself: the status a guest script exits with comes back to
# the host unchanged; a guest that hangs, panics, warns, has a checker report
# in its kernel log or does not power down cleanly fails with a clear message
# and the tail of its console instead of hanging or passing.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/p2pv-selftest.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# expect NAME STATUS PATTERN SCRIPT-BODY [run-vm options]: run the body in a
# guest, check the host-side exit status and that PATTERN is in run-vm's output.
expect() {
	local name=$1 want=$2 pattern=$3 body=$4 got=0
	shift 4
	printf '#!/bin/bash\n%s\n' "$body" >"$work/$name.sh"
	"$here/run-vm.sh" --name "selftest-$name" "$@" -- "$work/$name.sh" >"$work/$name.out" 2>&1 || got=$?
	[ "$got" = "$want" ] || { cat "$work/$name.out"; fail "$name: run-vm exited $got, expected $want"; }
	grep -q -- "$pattern" "$work/$name.out" || { cat "$work/$name.out"; fail "$name: no '$pattern' in the output"; }
	echo "ok: $name: exit $got, '$pattern' reported"
}

# The guest computes the status, so a guest that never ran cannot produce it.
expect status 42 'FAILED with status 42' 'exit $((6 * 7))'
# A test's own output is not a kernel report, whatever words it prints.
expect pass 0 'passed in' 'grep -q hostroot /proc/cmdline; echo "WARNING: BUG: Oops, printed by the test"'
expect hang 124 'TIMEOUT' 'sleep 1000' --timeout 20
expect panic 125 'Kernel panic' 'echo c >/proc/sysrq-trigger'
# A kernel warning fails the run although the script goes on and exits 0: a
# real WARN() from LKDTM stops the guest (panic_on_warn), and the console's
# report is named.
expect warning 125 'kernel reported' \
	'echo WARNING >/sys/kernel/debug/provoke-crash/DIRECT; sleep 2; exit 0'
# A checker report that does not panic (lockdep, kmemleak, hung tasks are only
# printed) fails it too: one such line in the kernel log, written as the
# kernel would.
expect report 126 'kernel warnings or checker reports' \
	'echo "<3>BUG: KASAN: harness self-test report" >/dev/kmsg; exit 0'
# rc 0 written, but the guest never powers down cleanly (it is reset without
# the kernel's "reboot: Power down", as if shutdown had crashed): a failure.
expect unclean-end 125 'did not power down cleanly' \
	'echo 0 >"$P2PV_RESULTS/rc"; sync; echo b >/proc/sysrq-trigger; sleep 10'
