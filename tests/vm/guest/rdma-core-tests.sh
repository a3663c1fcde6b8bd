#!/bin/bash
# rdma-core's own test suite (pyverbs, run_tests.py, as installed by
# build-userspace.sh) against soft-RoCE on this kernel, rxe0 over a veth.
# dma-buf MRs are allocated from the system DMA-BUF heap (no GPU in the
# guest; rdma-core patch 0003).
#
# usage: rdma-core-tests.sh all
#            every test_*.py module, each in a process of its own, so that
#            one module's leftovers (an object a failed test did not destroy)
#            cannot change the next module's results; prints the counts per
#            module and the totals, and fails only if the suite cannot run
#            (the triage of what fails is in docs/testing.md)
#        rdma-core-tests.sh MODULE[:REQUIRED]...
#            the given modules (or MODULE.Class.test names) in one process (a process costs about 20 s of
#            Python imports under TCG); fails on any failure or error, and
#            unless every test of MODULE whose id matches the extended regular
#            expression REQUIRED ran and passed (a skip is not a pass), e.g.
#            test_mr:DmaBuf
#
# Each run's log: rdma-core-<name>.log in the results directory
# (build/vm-logs/<test>/ on the host).
. "$(dirname "$0")/lib.sh"

[ $# -gt 0 ] || fail "usage: rdma-core-tests.sh all | MODULE[:REQUIRED]..."

suite=$P2PV_PREFIX/share/doc/rdma-core/tests
export PYTHONPATH=$P2PV_PREFIX/lib/python3/dist-packages
[ -f "$suite/run_tests.py" ] || fail "rdma-core's test suite is not installed in $suite"
[ -c /dev/dma_heap/system ] || fail "no /dev/dma_heap/system (CONFIG_DMABUF_HEAPS_SYSTEM)"
logdir=${P2PV_RESULTS:-/tmp}

rxe_pair

total_ran=0 total_pass=0 total_skip=0 total_fail=0 total_err=0

# run_suite NAME MODULE...: run_tests.py -v on the modules in one process,
# its log in $logdir/rdma-core-NAME.log, then the counts from unittest's
# summary ("Ran N tests", "OK (skipped=S)" or "FAILED (failures=F,
# errors=E, skipped=S)") added to the totals; $f and $e are this run's
# failures and errors.
run_suite() {
	local name=$1 log=$logdir/rdma-core-$1.log start rc=0 ran summary s xf us p secs
	shift
	start=$(date +%s)
	timeout 1800 python3 "$suite/run_tests.py" --dev rxe0 -v "$@" >"$log" 2>&1 || rc=$?
	secs=$(($(date +%s) - start))
	ran=$(sed -n 's/^Ran \([0-9]*\) tests\? in .*/\1/p' "$log")
	summary=$(grep -E '^(OK|FAILED)( \(.*\))?$' "$log" | tail -1)
	if [ -z "$ran" ] || [ -z "$summary" ]; then
		tail -40 "$log"
		fail "$name: run_tests.py ended without a unittest summary (exit $rc)"
	fi
	count() { sed -n "s/.*[( ]$1=\([0-9]*\).*/\1/p" <<<"$summary" | grep . || echo 0; }
	f=$(count failures) e=$(count errors) s=$(count skipped)
	xf=$(count 'expected failures') us=$(count 'unexpected successes')
	p=$((ran - f - e - s - xf - us))
	echo "$name: ran $ran, passed $p, skipped $s, failed $f, errors $e," \
		"expected failures $xf, unexpected successes $us, $secs s"
	total_ran=$((total_ran + ran)) total_pass=$((total_pass + p)) total_skip=$((total_skip + s))
	total_fail=$((total_fail + f)) total_err=$((total_err + e))
	# the tracebacks, for the console log of the run
	if [ "$f" != 0 ] || [ "$e" != 0 ]; then
		sed -n '/^=\{20,\}$/,/^Ran /p' "$log"
	fi
}

if [ "$1" = all ]; then
	for m in "$suite"/test_*.py; do
		run_suite "$(basename "$m" .py)" "$(basename "$m" .py)"
	done
	echo "rdma-core tests: ran $total_ran, passed $total_pass, skipped $total_skip," \
		"failed $total_fail, errors $total_err"
	pass "rdma-core's full suite ran on rxe0"
	exit 0
fi

modules=()
for spec in "$@"; do
	modules+=("${spec%%:*}")
	[ -f "$suite/${spec%%[.:]*}.py" ] || fail "no $suite/${spec%%[.:]*}.py"
done
run_suite subset "${modules[@]}"
bad=0
if [ "$f" != 0 ] || [ "$e" != 0 ]; then
	bad=1
	echo "FAIL: $f failures, $e errors" >&2
fi

# Each test's outcome from the verbose lines: "test_x (tests.MODULE.Class.test_x)
# ... ok", or the id on a line of its own and " ... ok" after the first line
# of the test's docstring.
outcomes=$(awk '
	/^test[^ ]* \([^ )]*\)/ { id = $2; gsub(/[()]/, "", id) }
	id != "" && match($0, /(ok|FAIL|ERROR|skipped .*|expected failure|unexpected success)$/) {
		print id, substr($0, RSTART); id = ""
	}' "$logdir/rdma-core-subset.log")
for spec in "$@"; do
	module=${spec%%:*}
	[ "$module" != "$spec" ] || continue
	required=${spec#*:}
	mapfile -t want < <(grep -E "^tests\.$module(\.[^ ]*)? " <<<"$outcomes" |
		grep -E "^[^ ]*($required)")
	[ ${#want[@]} -gt 0 ] || { bad=1; echo "FAIL: $module: no test matches '$required'" >&2; continue; }
	for w in "${want[@]}"; do
		[ "${w#* }" = ok ] || { bad=1; echo "FAIL: ${w%% *} must pass, it reports: ${w#* }" >&2; }
	done
	[ "$bad" = 1 ] || pass "$module: the ${#want[@]} tests matching '$required' passed"
done

[ "$bad" = 0 ] || fail "rdma-core's tests on rxe0: see above"
pass "rdma-core's tests on rxe0: ${modules[*]}"
