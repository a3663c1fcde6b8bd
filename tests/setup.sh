#!/bin/bash
# Prepare a Debian 12 host for p2pverbs: packages for the userspace build, the
# kernel build, the QEMU harness and the tests, plus the trixie deb-src entry
# that rdma-core 56.1 and perftest 25.01 come from.  Idempotent; run as root.
set -euo pipefail

[ "$(id -u)" = 0 ] || { echo "setup.sh: run as root (it installs packages)" >&2; exit 1; }

# Sources only: trixie's binaries are never installed, so no pinning is needed.
SRC_LIST=/etc/apt/sources.list.d/p2pverbs-trixie-src.sources
want_src="Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"

PACKAGES=(
	# userspace build and tests
	build-essential cmake ninja-build pkg-config ccache git python3
	libibverbs-dev librdmacm-dev
	# kernel build (the linux-source-7.3 tarball itself is downloaded by
	# tests/vm/build-kernel.sh from trixie-backports, never installed)
	bc bison flex libelf-dev libssl-dev cpio kmod xz-utils debian-archive-keyring
	# tests/vm/check-series.sh: checkpatch.pl's SPDX check
	python3-ply
	# rdma-core and perftest from source (valgrind: rdma-core's memcheck
	# annotations, and the in-guest valgrind runs of libp2pverbs)
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
if [ "$(cat "$SRC_LIST" 2>/dev/null)" != "$want_src" ]; then
	printf '%s\n' "$want_src" >"$SRC_LIST"
	changed=1
fi

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
