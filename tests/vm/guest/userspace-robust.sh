#!/bin/bash
# libp2pverbs under stress, fork(), resource limits,
# ASan/UBSan and valgrind, on the real kernel, rxe and rdma-core:
#  1. p2pverbs-stress threads: 8 threads x 2,000 allocate/register/
#     deregister/free operations on both providers, RDMA WRITEs verified
#     meanwhile; pools and fds restored.  The 10,000 operations per thread
#     run in the sanitized build (4), which checks more on the same
#     interleavings.
#  2. p2pverbs-stress fork: fork() after registration behaves as the user
#     guide says, on both providers.
#  3. p2pverbs-stress nofile and pool: RLIMIT_NOFILE and an exhausted pool
#     fail cleanly and everything is recovered.
#  4. The same and the library test (p2pverbs-test), built with ASan and
#     UBSan (the sanitized sub-build, $P2PV_SANITIZE_BUILD), and a program
#     that allocates with the sanitized library and registers with plain
#     ibv_reg_mr: no report, no leak.
#  5. The plain builds under valgrind memcheck: no error, no leak.
. "$(dirname "$0")/lib.sh"

STRESS=$(find_prog p2pverbs-stress)
TEST=$(find_prog p2pverbs-test)
UNMODIFIED=$(find_prog p2pv-unmodified)
SAN_STRESS=$(find_prog p2pverbs-stress "$P2PV_SANITIZE_BUILD")
SAN_TEST=$(find_prog p2pverbs-test "$P2PV_SANITIZE_BUILD")
SAN_UNMODIFIED=$(find_prog p2pv-unmodified "$P2PV_SANITIZE_BUILD")
for f in "$SAN_STRESS" "$SAN_TEST" "$SAN_UNMODIFIED"; do
	syms=$(nm -D "$f")
	grep -q '__asan_init' <<<"$syms" && grep -q '__ubsan_handle' <<<"$syms" ||
		fail "$f is not built with ASan and UBSan"
done
command -v valgrind >/dev/null || fail "valgrind is not installed on the host (tests/setup.sh)"

rc_functions
unset P2PV_P2P_POLICY
rxe_pair
log=/tmp/robust.log

# run TIMEOUT CMD...: CMD's output in $log and on the console, status in $st,
# seconds in $secs
run() {
	local t=$1 t0
	shift
	t0=$(date +%s)
	st=0
	timeout "$t" "$@" >"$log" 2>&1 || st=$?
	secs=$(($(date +%s) - t0))
	cat "$log"
}

# --- 1-3. the plain build --------------------------------------------------------
run 900 "$STRESS" threads rxe0 rxe1 8 2000 "$nvme" "$ivshmem"
[ "$st" = 0 ] || fail "p2pverbs-stress threads: status $st"
pass "8 threads x 2,000 operations ($secs s): $(grep -o '[0-9]* allocations.*' "$log" | head -n 1)"
for prov in $nvme $ivshmem; do
	run 300 "$STRESS" fork rxe0 rxe1 "$prov"
	[ "$st" = 0 ] || fail "p2pverbs-stress fork $prov: status $st"
	pass "$prov: fork() after registration as documented"
done
for limit in nofile pool; do
	run 300 "$STRESS" $limit "$ivshmem"
	[ "$st" = 0 ] || fail "p2pverbs-stress $limit: status $st"
	pass "limits, $limit: $(grep -c '^ok:' "$log") checks"
done

# --- 4. ASan and UBSan --------------------------------------------------------
# Every report fails the run (halt_on_error, exitcode); leaks are reported at
# exit by LeakSanitizer, in forked children too.
export ASAN_OPTIONS=detect_leaks=1:exitcode=98:verify_asan_link_order=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# san LABEL TIMEOUT CMD...: CMD must pass with no sanitizer report
san() {
	local label=$1
	shift
	run "$@"
	[ "$st" = 0 ] || fail "ASan/UBSan: $label: status $st"
	! grep -Eq 'Sanitizer|runtime error:' "$log" || fail "ASan/UBSan: $label: report above"
	pass "ASan/UBSan: $label, no report ($secs s)"
}
san "8 threads x 10,000 operations" 1800 "$SAN_STRESS" threads rxe0 rxe1 8 10000 "$nvme" "$ivshmem"
san "fork after registration" 300 "$SAN_STRESS" fork rxe0 rxe1 "$nvme"
san "RLIMIT_NOFILE" 300 "$SAN_STRESS" nofile "$ivshmem"
san "pool exhaustion" 300 "$SAN_STRESS" pool "$ivshmem"
san "library test, verbs" 900 "$SAN_TEST" verbs rxe0 rxe1 "$nvme" "$ivshmem"
san "library test, policy" 300 "$SAN_TEST" policy "$nvme" "$edu"
for prov in $nvme $ivshmem; do
	san "library allocation, plain ibv_reg_mr on $prov" 300 "$SAN_UNMODIFIED" "$prov" rxe0 rxe1
	grep -qx 'registered: ordinary MR' "$log" ||
		fail "ASan/UBSan, plain ibv_reg_mr on $prov: no registration"
done
unset ASAN_OPTIONS UBSAN_OPTIONS

# --- 5. valgrind memcheck ---------------------------------------------------------
# vg LABEL TIMEOUT CMD...: no memcheck error and no definite or indirect leak,
# in every process (forked children write their own log)
vg() {
	local label=$1 t=$2 f errors lost
	shift 2
	rm -f /tmp/vg.*.log
	run "$t" valgrind --tool=memcheck --leak-check=full \
		--show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
		--error-exitcode=99 --log-file=/tmp/vg.%p.log "$@"
	for f in /tmp/vg.*.log; do
		cat "$f"
		grep -q 'ERROR SUMMARY: 0 errors' "$f" || fail "valgrind: $label: errors in $f"
	done
	[ "$st" = 0 ] || fail "valgrind: $label: status $st"
	errors=$(cat /tmp/vg.*.log | grep -c 'ERROR SUMMARY: 0 errors')
	lost=$(cat /tmp/vg.*.log | grep -o 'definitely lost: [0-9,]* bytes' | sort -u | tr '\n' ' ')
	pass "valgrind: $label: 0 errors in $errors process(es), ${lost:-no leak summary (nothing allocated at exit)} ($secs s)"
}
vg "library test, verbs" 1800 "$TEST" verbs rxe0 rxe1 "$nvme" "$ivshmem"
vg "library test, policy" 600 "$TEST" policy "$nvme" "$edu"
vg "fork after registration" 600 "$STRESS" fork rxe0 rxe1 "$ivshmem"
# (not nofile: valgrind keeps RLIMIT_NOFILE to itself and does not enforce it)
vg "pool exhaustion" 600 "$STRESS" pool "$ivshmem"
vg "8 threads x 500 operations" 1800 "$STRESS" threads rxe0 rxe1 8 500 "$nvme" "$ivshmem"
vg "library allocation, plain ibv_reg_mr" 600 "$UNMODIFIED" "$ivshmem" rxe0 rxe1
grep -qx 'registered: ordinary MR' "$log" ||
	fail "valgrind, plain ibv_reg_mr: no registration"
echo "userspace-robust.sh: all checks passed"
