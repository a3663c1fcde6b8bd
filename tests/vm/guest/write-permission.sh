#!/bin/bash
# Write access to P2P memory needs write permission on every path (issue 17):
# a /dev/p2pmem node opened O_RDONLY answers queries but neither allocates
# (ALLOC: EBADF) nor maps (mmap: EACCES); ibv_reg_dmabuf_mr() refuses
# write access to a dma-buf allocated O_RDONLY (EACCES); the kernel refuses
# to re-register a dma-buf MR (EOPNOTSUPP), so a read-only registration
# cannot gain write access afterwards.  Both providers, rxe for RDMA.
# Details in tests/vm/progs/write-permission-test.c.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/p2pmem-lib.sh"

prog=$(find_prog write-permission-test)
rxe_pair
failed=()
for prov in $ivshmem $nvme; do
	p2pmem_node "$prov"
	"$prog" node "$prov" "$edu" || failed+=("node $prov")
	"$prog" rdma "$prov" rxe0 || failed+=("rdma $prov")
done
[ ${#failed[@]} = 0 ] || fail "write permission not enforced: ${failed[*]}"
pass "write access needs write permission on the node, the dma-buf and the MR"
