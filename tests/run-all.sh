#!/bin/bash
# Run every p2pverbs test on this machine: set the host up, build the guest
# kernel and the userspace RDMA stack (cached), build the project twice — a
# plain build whose programs the guests run, and an ASan/UBSan build for the
# unit tests — and run ctest on both.  Logs: build/vm-logs/<test>/console.log.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
jobs=$(nproc)

bash tests/setup.sh
t0=$(date +%s)
bash tests/vm/build-kernel.sh >/dev/null
t1=$(date +%s)
bash tests/vm/build-userspace.sh >/dev/null
t2=$(date +%s)
echo "run-all: kernel ready in $((t1 - t0)) s, rdma-core + perftest in $((t2 - t1)) s"

cmake -S . -B build -DP2PV_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
cmake -S . -B build-sanitize -DP2PV_WERROR=ON -DCMAKE_BUILD_TYPE=Sanitize -DP2PV_VM_TESTS=OFF >/dev/null
cmake --build build-sanitize -j"$jobs"

# ctest passes when it runs nothing: a build tree that registered no test
# (a configuration gone wrong) must fail the run, not skip it.
for tree in build-sanitize build; do
	n=$(ctest --test-dir "$tree" -N | sed -n 's/^Total Tests: *//p')
	[ "${n:-0}" -gt 0 ] || { echo "run-all: no tests registered in $tree" >&2; exit 1; }
done

# Two in-guest tests at a time: a TCG guest keeps about one host core busy
# (the host's load stays near 1 through a serial run), so a second guest
# uses the other core.  Tests that measure time in the guest or boot two
# guests are RUN_SERIAL (tests/vm/CMakeLists.txt).
status=0
ctest --test-dir build-sanitize --output-on-failure || status=1
ctest --test-dir build --output-on-failure -j"$jobs" || status=1
echo "run-all: finished in $(($(date +%s) - t0)) s, status $status"
exit $status
