#!/bin/bash
# PID 1 of a p2pverbs test guest (see run-vm.sh).
#
# Stage 1 (on the read-only 9p root): build a writable root as an overlay of
# that root and a tmpfs, so tests can write anywhere (their writes vanish with
# the guest) while every host path, wherever the repository was cloned, stays
# visible.  Stage 2 (chrooted into the overlay): mount the kernel filesystems,
# run the command the host left in the results directory, record its exit
# status there and power off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root

if [ "${1:-}" != --stage2 ]; then
	mount -t tmpfs -o mode=0755 tmpfs /mnt
	mkdir -p /mnt/upper /mnt/work /mnt/root
	mount -t overlay overlay -o lowerdir=/,upperdir=/mnt/upper,workdir=/mnt/work /mnt/root ||
		{ echo "init: cannot build the overlay root" >/dev/console; busybox poweroff -f; }
	exec chroot /mnt/root "$0" --stage2
fi

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
[ -d /sys/kernel/debug ] && mount -t debugfs debugfs /sys/kernel/debug
ulimit -l unlimited

# The generic BAR provider and the edu test importer bind no device by
# themselves (an ivshmem BAR may be shared with other guests): the harness
# gives them their devices, by ID, so that re-added devices bind as well.
echo "1af4 1110" >/sys/bus/pci/drivers/p2pdma_bar/new_id
echo "1234 11e8" >/sys/bus/pci/drivers/p2pmem_edu_test/new_id

results=$P2PV_RESULTS_DIR
mkdir -p "$results"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288 p2pv_results "$results" || {
	echo "init: cannot mount the results share" >/dev/console
	busybox poweroff -f
}
cut -d' ' -f1 /proc/uptime >"$results/boot-seconds"

export P2PV_RESULTS=$results
# shellcheck source=/dev/null
. <(head -n -1 "$results/command")
echo "init: running $(tail -n 1 "$results/command")" >/dev/console
bash -c "$(tail -n 1 "$results/command")" </dev/null >/dev/console 2>&1
rc=$?
echo "init: test exited with status $rc" >/dev/console
echo "$rc" >"$results/rc"
sync
# What the test left running is ended as a shutdown ends it, while the kernel
# is fully up: releases of leftover descriptors and mappings, and work queued
# by the test, run now, and any kernel report they cause still reaches the
# console.  The host accepts the run only if the console then ends with the
# kernel's own "reboot: Power down" (run-vm.sh): a crash in device shutdown
# fails it although rc is written.
kill -TERM -1 2>/dev/null
sleep 1
kill -KILL -1 2>/dev/null
echo "init: powering off" >/dev/console
# The reboot system call itself: nothing on the 9p root is needed afterwards.
busybox poweroff -f
