#!/bin/bash
# PID 1 of a p2pverbs test guest (see run-vm.sh).  Mounts what a test needs on
# top of the read-only 9p root, runs the command the host left in the results
# directory, records its exit status there and powers off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root

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
for d in /tmp /run /var/tmp /var/log /root; do
	mount -t tmpfs tmpfs "$d"
done
[ -d /sys/kernel/debug ] && mount -t debugfs debugfs /sys/kernel/debug
ulimit -l unlimited

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
# The reboot system call itself: nothing on the 9p root is needed afterwards.
busybox poweroff -f
