#!/bin/bash
# The kernel's own selftest of the /dev/p2pmem UAPI
# (tools/testing/selftests/p2pmem, the last patch of the series), built
# here from the source of the kernel booted and run on each provider:
# ivshmem (the generic BAR provider) and the NVMe CMB.
. "$(dirname "$0")/lib.sh"

src=${P2PV_KERNEL_SRC:-}
test_c=$src/tools/testing/selftests/p2pmem/p2pmem_test.c
[ -n "$src" ] && [ -r "$test_c" ] ||
	fail "no p2pmem kselftest in the kernel source '$src' (set P2PV_KERNEL_SRC with P2PV_KERNEL)"
rc_functions

# The UAPI header of that kernel, not whatever the host has installed
work=$(mktemp -d)
mkdir -p "$work/include/linux"
cp "$src/include/uapi/linux/p2pmem.h" "$work/include/linux/"
gcc -O2 -Wall -isystem "$work/include" -o "$work/p2pmem_test" "$test_c" ||
	fail "building $test_c"
pass "built the p2pmem kselftest from $src"

failed=()
for prov in $ivshmem $nvme; do
	P2PMEM_DEV=$prov "$work/p2pmem_test" || failed+=("$prov")
done
[ ${#failed[@]} = 0 ] || fail "p2pmem kselftest failed on: ${failed[*]}"
pass "p2pmem kselftest passed on $ivshmem and $nvme"
