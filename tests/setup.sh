#!/bin/bash
# Prepare a Debian 12 host for p2pverbs: packages for the userspace build, the
# kernel build, the QEMU harness and the tests, plus the deb-src entries that
# rdma-core 65.0 (sid) and perftest 25.01 (trixie) come from.  Idempotent;
# run as root.
set -euo pipefail

[ "$(id -u)" = 0 ] || { echo "setup.sh: run as root (it installs packages)" >&2; exit 1; }

# Sources only: trixie's and sid's binaries are never installed, so no
# pinning is needed.
deb_src() {
	printf '%s\n' "Types: deb-src" "URIs: http://deb.debian.org/debian" "Suites: $1" \
		"Components: main" "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
}

PACKAGES=(
	# userspace build and tests
	build-essential cmake ninja-build pkg-config ccache git python3
	libibverbs-dev librdmacm-dev
	# rdma-core's pyverbs and its test suite (run_tests.py), built as
	# Debian builds them
	python3-dev cython3
	# kernel build (the linux-source-7.3 tarball itself is downloaded by
	# tests/vm/build-kernel.sh from trixie-backports, never installed)
	bc bison flex libelf-dev libssl-dev cpio kmod xz-utils debian-archive-keyring
	# tests/vm/check-series.sh: checkpatch.pl's SPDX check
	python3-ply
	# rdma-core and perftest from source (libnl: rdma-core's netlink
	# neighbour resolution, on as in Debian's build; valgrind: rdma-core's
	# memcheck annotations, and the in-guest valgrind runs of libp2pverbs)
	libnl-3-dev libnl-route-3-dev libudev-dev autoconf automake libtool libpci-dev
	valgrind
	# the harness and what the guest runs from the shared host root
	qemu-system-x86 busybox-static pciutils iproute2 ethtool
	# bench/run.sh: plots
	gnuplot-nox
	# tests/vm/mpi-two-hosts (issue 18): what a cluster user has from Debian,
	# run unchanged in the guests: Open MPI 4.1 with its UCX components, UCX
	# and its tools (ucx_info, ucx_perftest), libfabric with its verbs
	# provider, and ssh for mpirun's launch between the two guests
	openmpi-bin libopenmpi-dev libucx0 ucx-utils libucx-dev
	libfabric1 libfabric-bin libfabric-dev
	openssh-server openssh-client
)

changed=0
for suite in trixie sid; do
	list=/etc/apt/sources.list.d/p2pverbs-$suite-src.sources
	if [ "$(cat "$list" 2>/dev/null)" != "$(deb_src "$suite")" ]; then
		deb_src "$suite" >"$list"
		changed=1
	fi
done

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ "$changed" = 1 ] || [ ${#missing[@]} -gt 0 ]; then
	apt-get update -q
fi
if [ ${#missing[@]} -gt 0 ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
echo "setup.sh: host ready (${#missing[@]} packages installed)"
