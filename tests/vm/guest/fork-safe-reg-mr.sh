#!/bin/bash
# Registration of P2P memory by fork-safe programs (issue 20):
# tests/vm/progs/fork-safe-reg-mr on the NVMe CMB and on ivshmem, for a
# mapping of /dev/p2pmem/<bdf> and of a dma-buf, with the mapping split
# into several VMAs by madvise(MADV_DONTFORK):
#   madvise    by the program itself (the project's rdma-core);
#   fork-init  by libibverbs after ibv_fork_init(), as UCX calls it, with
#              Debian's libibverbs (the one Debian's UCX and Open MPI use;
#              it sets up fork protection although the kernel copies on
#              fork, so it must split the mapping) and with the project's
#              (which sees the kernel's copy-on-fork and leaves it whole);
#   fork-env   the same with RDMAV_FORK_SAFE=1 instead of the call, with
#              Debian's libibverbs.
# Every run is its own process and all of them run; the summary lists each
# one's verdict and the test fails if any did.
. "$(dirname "$0")/lib.sh"

logs=/tmp/fork-safe-reg-mr
mkdir -p "$logs"
rc_functions
rxe_pair
# from here on each run names its libibverbs
unset LD_LIBRARY_PATH LD_PRELOAD
prog=$(find_prog fork-safe-reg-mr)
prefix_lib=$P2PV_PREFIX/lib

# which libibverbs each variant loads: the project's prefix or Debian's
lib_of() { ldd "$prog" | sed -n 's/.*libibverbs\.so\.1 => \([^ ]*\).*/\1/p'; }
debian_lib=$(lib_of)
project_lib=$(LD_LIBRARY_PATH=$prefix_lib lib_of)
case "$debian_lib" in "$prefix_lib"/* | '') fail "no Debian libibverbs outside the prefix: '$debian_lib'" ;; esac
case "$project_lib" in "$prefix_lib"/*) ;; *) fail "the prefix's libibverbs is not found: '$project_lib'" ;; esac
pass "libibverbs: Debian's $(readlink -f "$debian_lib"), the project's $(readlink -f "$project_lib")"

results=()
failed=0
# run VARIANT PROVIDER MEMORY ENV... -- ARGS...: one process, its verdict
# goes to the summary
run() {
	local v=$1 prov=$2 mem=$3 envs=() st=0 log
	shift 3
	while [ "$1" != -- ]; do envs+=("$1"); shift; done
	shift
	log=$logs/$v-$prov-$mem.log
	timeout 300 env "${envs[@]}" "$prog" "$prov" rxe0 rxe1 "$mem" "$@" >"$log" 2>&1 || st=$?
	sed "s/^/[$v $prov] /" "$log"
	if [ "$st" = 0 ]; then
		results+=("PASS  $v  $prov  $mem")
	else
		results+=("FAIL  $v  $prov  $mem: $(grep -m1 '^FAIL' "$log" || echo "exit status $st")")
		failed=$((failed + 1))
	fi
}

for prov in $nvme $ivshmem; do
	for mem in node dmabuf; do
		run madvise "$prov" "$mem" LD_LIBRARY_PATH="$prefix_lib" -- madvise
		run fork-init-debian "$prov" "$mem" -- fork-init split
		run fork-env-debian "$prov" "$mem" RDMAV_FORK_SAFE=1 -- fork-env split
		run fork-init-project "$prov" "$mem" LD_LIBRARY_PATH="$prefix_lib" -- fork-init
	done
done

echo "---- fork-safe-reg-mr summary ----"
printf '%s\n' "${results[@]}"
dmesg | grep -E 'BUG|WARNING|Oops|KASAN|circular locking|suspicious RCU|suspected memory leak' &&
	fail "kernel warnings during the test"
[ "$failed" = 0 ] || fail "$failed of ${#results[@]} fork-safe-reg-mr runs failed"
pass "registrations of split P2P mappings: ${#results[@]} runs passed"
