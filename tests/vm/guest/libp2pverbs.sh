#!/bin/bash
# libp2pverbs on the real kernel, rxe and rdma-core (the prefix of
# build-userspace.sh), between rxe0 and rxe1:
#  1. p2pverbs-test verbs: P2P buffers from the NVMe CMB and ivshmem (named,
#     nearest to rxe0, any), registered with p2pv_reg_buf, p2pv_reg_mr and
#     p2pv_reg_mr_iova2 (a plain ibv_reg_mr checked first), RDMA WRITE/READ
#     checked byte for byte, pointer and MR
#     queries, dma-buf MR support, deregistration;
#     p2pverbs-test policy: the policy levels (API and P2PV_P2P_POLICY) with
#     a real provider and a PCI function that is not one (edu);
#     p2pverbs-test graph: the cached graph and available memory (not seen
#     until a uevent), an allocation moving on from a provider exhausted
#     behind the library's back.
#  2. p2pv-unmodified: allocation from the library, registration by the plain
#     ibv_reg_mr() of libibverbs: the kernel resolves the mapping to its
#     dma-buf (an ordinary MR as far as the library knows).
#  3. The user guide's example program, compiled here as the guide says and
#     run; its output is checked.
. "$(dirname "$0")/lib.sh"

TEST=$(find_prog p2pverbs-test)
UNMODIFIED=$(find_prog p2pv-unmodified)

rc_functions
unset P2PV_P2P_POLICY
rxe_pair
out=/tmp/libp2pverbs-test.log

# --- 1. the library API ------------------------------------------------------
timeout 600 "$TEST" verbs rxe0 rxe1 "$nvme" "$ivshmem" || fail "p2pverbs-test verbs"
pass "library API on rxe: allocation, registration, RDMA, queries"
timeout 300 "$TEST" policy "$nvme" "$edu" || fail "p2pverbs-test policy"
pass "policy levels"
timeout 300 "$TEST" graph rxe0 "$nvme" "$ivshmem" || fail "p2pverbs-test graph"
pass "cached graph and available memory: rebuilt on a uevent; allocation moves on from an exhausted provider"

# --- 2. allocation from the library, registration by plain verbs ---------------
# ibv_reg_mr/ibv_dereg_mr resolved from libibverbs, no p2pv_reg_* call.
syms=$(nm -D --undefined-only "$UNMODIFIED")
grep -q ' ibv_reg_mr@' <<<"$syms" || fail "p2pv-unmodified does not call ibv_reg_mr"
grep -q 'p2pv_reg_\|p2pv_dereg_' <<<"$syms" && fail "p2pv-unmodified calls the library's registration"
pass "p2pv-unmodified registers with libibverbs' ibv_reg_mr only"
for prov in $nvme $ivshmem; do
	st=0
	timeout 300 "$UNMODIFIED" "$prov" rxe0 rxe1 >"$out" 2>&1 || st=$?
	cat "$out"
	[ "$st" = 0 ] || fail "$prov: exit status $st, expected 0 (the kernel resolves the mapping)"
	grep -qx 'registered: ordinary MR' "$out" || fail "$prov: the library should not know the MR"
	grep -q '^ok: RDMA WRITE and READ' "$out" || fail "$prov: no data check"
	pass "$prov: plain ibv_reg_mr of a library buffer: the kernel registers the P2P mapping as its dma-buf, RDMA WRITE/READ verified"
done

# --- 3. the user guide's example ----------------------------------------------
guide=$P2PV_REPO/docs/user-guide.md
example=$P2PV_REPO/libp2pverbs/examples/p2pv_example.c
exdir=$(mktemp -d)
awk '/^## A complete program/ { sec = 1 } sec && /^```c$/ { code = 1; next }
     code && /^```$/ { exit } code { print }' "$guide" >"$exdir/p2pv_example.c"
[ -s "$exdir/p2pv_example.c" ] || fail "no C example in $guide"
cmp -s "$exdir/p2pv_example.c" "$example" || {
	diff -u "$example" "$exdir/p2pv_example.c" || true
	fail "the example in docs/user-guide.md differs from $example"
}
pass "docs/user-guide.md shows libp2pverbs/examples/p2pv_example.c verbatim"
# the guide's build command, against the installed library (pkg-config)
export PKG_CONFIG_PATH=$P2PV_PREFIX/lib/pkgconfig
# shellcheck disable=SC2046
(cd "$exdir" && cc -Wall -Wextra -Werror -o p2pv_example p2pv_example.c $(pkg-config --cflags --libs libp2pverbs)) ||
	fail "building the example with pkg-config"
ex=$exdir/p2pv_example
pass "example built with cc \$(pkg-config --cflags --libs libp2pverbs)"

# run_example POLICY ARGS...: stdout in $exdir/out, stderr in $exdir/err, status in $st
run_example() {
	local pol=$1
	shift
	st=0
	if [ -n "$pol" ]; then
		P2PV_P2P_POLICY=$pol timeout 300 "$ex" "$@" >"$exdir/out" 2>"$exdir/err" || st=$?
	else
		timeout 300 "$ex" "$@" >"$exdir/out" 2>"$exdir/err" || st=$?
	fi
	echo "--- p2pv_example $* (policy ${pol:-default}): status $st"
	cat "$exdir/out" "$exdir/err"
}
hex='0x[0-9a-f]+'
for dev in rxe0 rxe1; do
	run_example "" -d $dev
	[ "$st" = 0 ] || fail "p2pv_example -d $dev: status $st"
	[ ! -s "$exdir/err" ] || fail "p2pv_example -d $dev wrote to stderr"
	[ "$(wc -l <"$exdir/out")" = 3 ] || fail "p2pv_example -d $dev: expected 3 lines"
	grep -Eqx "buffer: 1048576 bytes at $hex, P2P memory of ($nvme|$ivshmem)" "$exdir/out" ||
		fail "p2pv_example -d $dev: no P2P buffer line"
	grep -Eqx "mr: lkey $hex rkey $hex" "$exdir/out" || fail "p2pv_example -d $dev: no mr line"
	grep -qx 'path: CPU, mode cpu (attachment)' "$exdir/out" ||
		fail "p2pv_example -d $dev: path is not CPU/cpu as the MR's attachment got it"
	pass "p2pv_example -d $dev: 1 MiB of P2P memory, registered, path CPU, mode cpu"
done
run_example "" -d rxe0 -s 8192
[ "$st" = 0 ] && grep -Eqx "buffer: 8192 bytes at $hex, P2P memory of ($nvme|$ivshmem)" "$exdir/out" ||
	fail "p2pv_example -s 8192"
pass "p2pv_example -s 8192: 8192 bytes of P2P memory"

# larger than every provider (both have 64 MiB): the policy decides
big=$((96 << 20))
run_example required -d rxe0 -s $big
[ "$st" = 1 ] || fail "P2PV_P2P_POLICY=required, $big bytes: status $st, expected 1"
[ "$(wc -l <"$exdir/err")" = 1 ] && grep -q '^p2pv_buf_alloc: P2P memory required (policy "required") but unavailable: no usable P2PDMA provider' "$exdir/err" ||
	fail "P2PV_P2P_POLICY=required: no clear one-line error"
[ ! -s "$exdir/out" ] || fail "P2PV_P2P_POLICY=required: a buffer was printed"
pass "P2PV_P2P_POLICY=required, $big bytes: fails clearly: $(cat "$exdir/err")"
run_example preferred -d rxe0 -s $big
[ "$st" = 0 ] || fail "P2PV_P2P_POLICY=preferred, $big bytes: status $st"
[ ! -s "$exdir/err" ] || fail "P2PV_P2P_POLICY=preferred: the library wrote to stderr unasked"
# diagnostics on stderr only when asked for
st=0
P2PV_DEBUG=1 P2PV_P2P_POLICY=preferred timeout 300 "$ex" -d rxe0 -s $big >"$exdir/out" 2>"$exdir/err" || st=$?
[ "$st" = 0 ] || fail "P2PV_DEBUG=1 P2PV_P2P_POLICY=preferred, $big bytes: status $st"
grep -q '^libp2pverbs: P2P memory unavailable (no usable P2PDMA provider.*); using host memory$' "$exdir/err" ||
	fail "P2PV_DEBUG=1 P2PV_P2P_POLICY=preferred: expected a line explaining the fallback"
grep -Eqx "buffer: $big bytes at $hex, host memory" "$exdir/out" || fail "P2PV_P2P_POLICY=preferred: not host memory"
grep -Eqx "mr: lkey $hex rkey $hex" "$exdir/out" || fail "P2PV_P2P_POLICY=preferred: host memory not registered"
grep -q '^path:' "$exdir/out" && fail "P2PV_P2P_POLICY=preferred: a host-memory MR has a P2P path"
pass "P2PV_P2P_POLICY=preferred, $big bytes: host memory, silent; with P2PV_DEBUG: $(grep 'using host memory' "$exdir/err")"
run_example enabled -d rxe0 -s $big
[ "$st" = 0 ] && [ ! -s "$exdir/err" ] && grep -Eqx "buffer: $big bytes at $hex, host memory" "$exdir/out" ||
	fail "P2PV_P2P_POLICY=enabled: expected a silent host-memory fallback"
pass "P2PV_P2P_POLICY=enabled, $big bytes: silent host-memory fallback"
run_example disabled -d rxe0
[ "$st" = 0 ] && [ ! -s "$exdir/err" ] && grep -Eqx "buffer: 1048576 bytes at $hex, host memory" "$exdir/out" ||
	fail "P2PV_P2P_POLICY=disabled: expected host memory"
pass "P2PV_P2P_POLICY=disabled: host memory although providers exist"
rm -rf "$exdir"
echo "libp2pverbs.sh: all checks passed"
