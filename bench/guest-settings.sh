# Sourced by the benchmark's in-guest scripts: run-vm.sh passes them
# arguments, not the environment, so each BENCH_*=VALUE argument is
# exported here; anything else is a mistake of the caller.
for kv in "$@"; do
	case $kv in
	BENCH_*=*) export "${kv?}" ;;
	*) echo "bench: bad argument $kv" >&2; exit 2 ;;
	esac
done
