#!/bin/bash
# Random calls into the /dev/p2pmem UAPI (p2pmem-fuzz) on every provider node
# and on rxe0, over every seed of tests/vm/fuzz/seeds, then: the fuzzer exited
# 0 every time, the kernel log has no splat, and every provider's
# p2pmem/available is back to its value before the run.  On the debug flavour
# (run-vm.sh --debug) also kmemleak.  Totals are printed.
#
# usage: p2pmem-fuzz.sh [run [TOTAL]]     every seed of fuzz/seeds, TOTAL calls in all
#                                        (default 100000; 20000 on the debug flavour)
#        p2pmem-fuzz.sh seed SEED [PROFILE [CALLS]]
#        p2pmem-fuzz.sh replay FILE      run the calls of a p2pmem-fuzz log again
#        p2pmem-fuzz.sh remove [ROUNDS]  ROUNDS times (default 6): fuzz for 8 s
#                                        and remove a provider (ivshmem and the
#                                        NVMe CMB in turn) 2-5 s into it, then
#                                        rescan; the fuzzer must cope, and the
#                                        provider come back whole
# The call logs end up in $P2PV_RESULTS (build/vm-logs/<name>/fuzz-SEED.log on
# the host).  "run" writes them to the guest's tmpfs and copies them there
# after each seed (writing through 9p per call costs 3x); "seed" and "replay"
# write them there directly, flushed before every call, so they survive a
# kernel crash: rerun the seed that crashed with "seed" to get its log.
. "$(dirname "$0")/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
seeds_file=$here/../fuzz/seeds

FUZZ=${P2PV_FUZZ:-$P2PV_BUILD/tests/vm/progs/p2pmem-fuzz}
[ -x "$FUZZ" ] || FUZZ=$(find "$P2PV_BUILD" -name p2pmem-fuzz -type f -perm -u+x 2>/dev/null | head -n 1)
[ -n "$FUZZ" ] && [ -x "$FUZZ" ] || fail "p2pmem-fuzz is not built under $P2PV_BUILD"

debug=${P2PV_DEBUG_KERNEL:-0}
if [ "$debug" = 1 ]; then total=20000; else total=100000; fi
outdir=${P2PV_RESULTS:-/tmp}

mode=${1:-run}
case $mode in
run) total=${2:-$total} ;;
seed) [ $# -ge 2 ] || fail "usage: p2pmem-fuzz.sh seed SEED [PROFILE [CALLS]]" ;;
replay) [ $# -eq 2 ] || fail "usage: p2pmem-fuzz.sh replay FILE" ;;
remove) rounds=${2:-6} ;;
*) fail "usage: p2pmem-fuzz.sh [run | seed SEED [PROFILE [CALLS]] | replay FILE | remove [ROUNDS]]" ;;
esac

rxe_pair
for p in $(pci_devs 1b36:0010) $(pci_devs 1af4:1110); do
	wait_for 30 test -c "/dev/p2pmem/$p" || fail "no /dev/p2pmem/$p"
done
providers=$(ls /dev/p2pmem)
[ -n "$providers" ] || fail "no provider nodes in /dev/p2pmem"
declare -A before
for p in $providers; do
	before[$p]=$(cat "/sys/bus/pci/devices/$p/p2pmem/available")
done
echo "providers: $(for p in $providers; do printf '%s(%s bytes available) ' "$p" "${before[$p]}"; done)"
dmesg_lines=$(dmesg | wc -l)
# kmemleak: only objects allocated from now on count
kmemleak_begin

# fuzz LOG ARGS...: one run of the fuzzer logging to LOG; its output is kept
# for the totals and LOG is copied to $outdir
runs=0
fuzz() {
	local log=$1 out=/tmp/fuzz-run-$runs.out st=0
	shift
	runs=$((runs + 1))
	echo "running: p2pmem-fuzz $*"
	timeout 1200 "$FUZZ" "$@" -l "$log" >"$out" 2>&1 || st=$?
	cat "$out"
	[ "$(dirname "$log")" = "$outdir" ] || cp "$log" "$outdir/" || true
	[ "$st" = 0 ] || fail "p2pmem-fuzz $* exited with $st (log: $outdir/$(basename "$log"))"
}

start=$(date +%s)
case $mode in
run)
	mapfile -t lines < <(grep -v '^[[:space:]]*#' "$seeds_file" | grep -v '^[[:space:]]*$')
	per=$((total / ${#lines[@]}))
	for line in "${lines[@]}"; do
		read -r seed profile _ <<<"$line"
		fuzz "/tmp/fuzz-$seed.log" -s "$seed" -p "$profile" -n "$per"
	done
	;;
seed) fuzz "$outdir/fuzz-$2.log" -s "$2" -p "${3:-all}" -n "${4:-$total}" ;;
remove)
	mapfile -t lines < <(grep -v '^[[:space:]]*#' "$seeds_file" | grep -v '^[[:space:]]*$')
	for ((i = 1; i <= rounds; i++)); do
		read -r seed profile _ <<<"${lines[$(((i - 1) % ${#lines[@]}))]}"
		if ((i % 2)); then id=1af4:1110; else id=1b36:0010; fi
		prov=$(pci_devs "$id" | head -n 1)
		[ -n "$prov" ] || fail "round $i: no $id device"
		fuzz "/tmp/fuzz-remove-$i.log" -s "$((seed + i))" -p "$profile" -t 8 -n 100000000 -r &
		pid=$!
		sleep $((2 + i % 4))
		kill -0 "$pid" 2>/dev/null || fail "round $i: the fuzzer ended before the removal"
		echo 1 >"/sys/bus/pci/devices/$prov/remove"
		echo "round $i: removed $prov ($id) under p2pmem-fuzz -s $((seed + i)) -p $profile"
		wait "$pid" || fail "round $i: the fuzzer did not cope with the removal of $prov"
		runs=$((runs + 1))	# fuzz ran in a subshell
		echo 1 >/sys/bus/pci/rescan
		prov=$(pci_devs "$id" | head -n 1)
		wait_for 60 test -c "/dev/p2pmem/$prov" || fail "round $i: $id did not come back"
	done
	;;
replay) fuzz "$outdir/replay.log" replay "$(realpath "$2")" ;;
esac
elapsed=$(($(date +%s) - start))

# Totals over every run: calls per op (called/succeeded) and errno histogram.
cat /tmp/fuzz-run-*.out | awk -v secs="$elapsed" '
	/ calls in / { for (i = 1; i <= NF; i++) if ($(i + 1) == "calls") calls += $i }
	/^per op/ { for (i = 4; i <= NF; i++) { split($i, a, "[=/]"); c[a[1]] += a[2]; s[a[1]] += a[3]; if (!(a[1] in seen)) { seen[a[1]] = 1; order[n++] = a[1] } } }
	/^ms per op:/ { for (i = 4; i <= NF; i++) { split($i, a, "="); t[a[1]] += a[2] } }
	/^errno histogram:/ { for (i = 3; i <= NF; i++) { split($i, a, "="); e[a[1]] += a[2] } }
	END {
		printf "fuzz totals: %d calls in %d s\n", calls, secs
		printf "per op (calls/succeeded):"; for (i = 0; i < n; i++) printf " %s=%d/%d", order[i], c[order[i]], s[order[i]]; printf "\n"
		printf "ms per op:"; for (i = 0; i < n; i++) printf " %s=%d", order[i], t[order[i]]; printf "\n"
		printf "errno histogram:"; for (k in e) printf " %s=%d", k, e[k]; printf "\n"
	}'
pass "p2pmem-fuzz exited 0 ($runs run(s), $elapsed s)"

# Every object is closed: the memory goes back to the pools (rxe releases its
# attachments when the MRs go, synchronously).
for p in $providers; do
	avail=/sys/bus/pci/devices/$p/p2pmem/available
	wait_for 30 eval "[ \"\$(cat $avail)\" = \"${before[$p]}\" ]" ||
		fail "$p: $(cat "$avail") bytes available after the run, ${before[$p]} before (leaked P2P memory)"
done
pass "every provider has all of its memory back: $(for p in $providers; do printf '%s=%s ' "$p" "${before[$p]}"; done)"

if dmesg | tail -n +"$((dmesg_lines + 1))" | grep -E 'BUG|WARNING|Oops|KASAN|circular locking|suspicious RCU|inconsistent lock state|general protection|suspected memory leak|Call Trace'; then
	fail "kernel splat during the fuzz run (see above)"
fi
pass "no kernel splat"

leak_check "p2pmem-fuzz"
