#!/bin/bash
# Checks run-vm.sh itself: the status a guest script exits with comes back to
# the host unchanged, and a guest that hangs or panics fails with a clear
# message and the tail of its console instead of hanging or passing.
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
expect pass 0 'passed in' 'grep -q hostroot /proc/cmdline'
expect hang 124 'TIMEOUT' 'sleep 1000' --timeout 40
expect panic 125 'Kernel panic' 'echo c >/proc/sysrq-trigger'
