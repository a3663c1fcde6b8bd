#!/bin/bash
# P2P memory through rdma-core's buffer API (providers/p2p/rdma-core-patches),
# end to end, where rdma-core's own test suite does not reach:
#
# 1. rdma-core's own ibv_rc_pingpong moves its data through P2P memory between
# rxe0 and rxe1 with a one-attribute change: its parent domain (option -U)
# asks for IBV_PARENT_DOMAIN_INIT_ATTR_P2P_MEM instead of
# IBV_PARENT_DOMAIN_INIT_ATTR_ALLOW_CC_UNPROTECTED_ALLOC, so ibv_alloc_buf()
# returns memory of the provider nearest to the device and ibv_reg_buf_mr()
# registers it as a dma-buf MR.  The example is compiled here from the
# rdma-core tree the prefix was built from; -c makes the server check the
# data it receives.  While the server waits for its client, its buffer must
# show in the providers' user_allocated counters: it is P2P memory, not host
# memory.
# 2. With every provider removed (the NVMe controller and ivshmem unplugged
# through sysfs), asking for the nearest provider fails with ENODEV:
# test_p2p_buf.P2PBufNoProviderTest, which skips while providers exist, must
# run and pass.
#
# usage: p2p-buf-api.sh   (RDMA_CORE_SRC / RDMA_CORE_BUILD override the
# rdma-core source and build trees, default: next to $P2PV_PREFIX)
. "$(dirname "$0")/lib.sh"

src=${RDMA_CORE_SRC:-$P2PV_PREFIX/../rdma-core}
build=${RDMA_CORE_BUILD:-$src/build}
example=$src/libibverbs/examples/rc_pingpong.c
[ -f "$example" ] || fail "no rdma-core source at $src"
[ -f "$build/include/config.h" ] || fail "no rdma-core build tree at $build"

# The one-attribute change, and nothing else.
sed 's/IBV_PARENT_DOMAIN_INIT_ATTR_ALLOW_CC_UNPROTECTED_ALLOC;/IBV_PARENT_DOMAIN_INIT_ATTR_P2P_MEM;/' \
	"$example" >/tmp/rc_pingpong_p2p.c
changed=$(diff "$example" /tmp/rc_pingpong_p2p.c | grep -c '^[<>]' || true)
[ "$changed" = 2 ] || fail "the change to rc_pingpong.c is not one line: $(diff "$example" /tmp/rc_pingpong_p2p.c)"
diff "$example" /tmp/rc_pingpong_p2p.c | sed 's/^/  /' || true
gcc -O2 -I"$build/include" -I"$src/libibverbs/examples" -o /tmp/rc_pingpong_p2p \
	/tmp/rc_pingpong_p2p.c "$src/libibverbs/examples/pingpong.c" \
	-L"$P2PV_PREFIX/lib" -Wl,-rpath,"$P2PV_PREFIX/lib" -libverbs ||
	fail "rc_pingpong with the P2P attribute does not compile against $P2PV_PREFIX"
pass "ibv_rc_pingpong built with IBV_PARENT_DOMAIN_INIT_ATTR_P2P_MEM"

rxe_pair
ls /dev/p2pmem/* >/dev/null 2>&1 || fail "the kernel publishes no P2P memory provider"

user_allocated() {
	cat /sys/class/p2pmem/*/user_allocated | awk '{ s += $1 } END { print s + 0 }'
}
[ "$(user_allocated)" = 0 ] || fail "P2P memory is in use before the test: $(user_allocated) bytes"

# VERBS_LOG_LEVEL=4: libibverbs says which provider it chose.
VERBS_LOG_LEVEL=4 /tmp/rc_pingpong_p2p -d rxe0 -g 0 -U -c -n 200 -s 8192 \
	>/tmp/pp-p2p-server.log 2>&1 &
server=$!
wait_for 60 listening 18515 || { cat /tmp/pp-p2p-server.log; fail "server did not listen"; }
held=$(user_allocated)
[ "$held" -ge 8192 ] || { cat /tmp/pp-p2p-server.log; fail "the server's buffer is not P2P memory: providers hold $held bytes"; }
pass "the server's 8 KiB buffer is P2P memory: the providers hold $held bytes"
VERBS_LOG_LEVEL=4 /tmp/rc_pingpong_p2p -d rxe1 -g 0 -U -c -n 200 -s 8192 127.0.0.1 \
	>/tmp/pp-p2p-client.log 2>&1 ||
	{ cat /tmp/pp-p2p-client.log /tmp/pp-p2p-server.log; fail "client"; }
wait "$server" || { cat /tmp/pp-p2p-server.log; fail "server"; }
cat /tmp/pp-p2p-server.log /tmp/pp-p2p-client.log
for side in server client; do
	grep -q 'P2P memory: nearest provider of rxe[01] is ' /tmp/pp-p2p-$side.log ||
		fail "the $side did not take P2P memory"
	grep -Eq '[0-9]+ bytes in [0-9.]+ seconds' /tmp/pp-p2p-$side.log ||
		fail "the $side printed no transfer"
done
[ "$(user_allocated)" = 0 ] || fail "P2P memory left behind: $(user_allocated) bytes"
pass "ibv_rc_pingpong -U -c: 200 x 8 KiB round trips between P2P buffers, data checked, memory given back"

# 2. No provider at all.
for dev in /sys/bus/pci/devices/*; do
	case "$(cat "$dev/vendor"):$(cat "$dev/device")" in
	0x1b36:0x0010 | 0x1af4:0x1110) echo 1 >"$dev/remove" ;;
	esac
done
wait_for 30 sh -c '! ls /dev/p2pmem/* >/dev/null 2>&1' || fail "providers left after removal: $(ls /dev/p2pmem)"
log=/tmp/rdma-core-test_p2p_buf-noprovider.log
PYTHONPATH=$P2PV_PREFIX/lib/python3/dist-packages timeout 600 python3 \
	"$P2PV_PREFIX/share/doc/rdma-core/tests/run_tests.py" --dev rxe0 -v -k P2PBufNoProviderTest test_p2p_buf >"$log" 2>&1 ||
	{ cat "$log"; fail "test_p2p_buf.P2PBufNoProviderTest"; }
cat "$log"
grep -q 'test_p2p_buf_no_provider .*\.\.\. ok$' "$log" || grep -Pzq 'test_p2p_buf_no_provider[^\n]*\n[^\n]*\.\.\. ok\n' "$log" ||
	fail "test_p2p_buf_no_provider did not run and pass"
pass "no P2P memory provider: the nearest provider is ENODEV (test_p2p_buf_no_provider)"
