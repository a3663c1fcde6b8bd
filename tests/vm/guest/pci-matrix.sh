#!/bin/bash
# One boot per topology: the guest sees the topology it was booted with, then
# real edu DMA into each provider's memory in the mode the exporter decided,
# then p2pv_devinfo must agree with the kernel (and its sysfs fallback too).
set -euo pipefail
here=$(dirname "$0")
bash "$here/smoke-pci.sh"
bash "$here/p2pmem-dma.sh"
bash "$here/p2pv-devinfo.sh"
