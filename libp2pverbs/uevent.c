/* SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB) */
/*
 * What changed on the machine since the graph was built.  On the real sysfs
 * the library listens to the kernel's uevents on a NETLINK_KOBJECT_UEVENT
 * socket (kernel group 1, non-blocking, close-on-exec), opened before the
 * graph is built, so that checking costs one recv() that finds nothing.
 * Each message names its subsystem; only three matter:
 *   - pci: a PCI function came, went or changed driver: the topology;
 *   - infiniband: an RDMA device came or went;
 *   - p2pmem: a provider's node (the p2pmem class) came or went.
 * Anything else (a veth, a block device, a tty) is read and ignored.  An
 * overflow of the socket (events lost) or a message too long to read counts
 * as everything.
 *
 * Where no uevent reaches the process (a user namespace: the kernel sends
 * them to the initial one only), where the socket cannot be opened, and
 * under a fake P2PV_SYSFS_ROOT, <sysfs>/kernel/uevent_seqnum is read
 * instead; it cannot say what changed, so any change is everything.
 *
 * The graph's lock serializes every call.  fork(): a child must not read
 * the parent's socket (a message one of them reads is gone for the other),
 * so the child closes its copy and arms a socket of its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/netlink.h>

#include "p2pv_priv.h"

static struct {
	char root[PATH_MAX];
	int sock;			/* NETLINK_KOBJECT_UEVENT, -1 none */
	int no_sock;			/* use the counter instead */
	int seq_fd;			/* <root>/kernel/uevent_seqnum */
	int have_seq;
	uint64_t seqnum;
} w = { .sock = -1, .seq_fd = -1 };

static void close_sock(void)
{
	if (w.sock >= 0)
		close(w.sock);
	w.sock = -1;
}

void p2pv_watch_forget(const char *root)
{
	close_sock();
	if (w.seq_fd >= 0)
		close(w.seq_fd);
	w.seq_fd = -1;
	w.no_sock = 0;
	w.have_seq = 0;
	snprintf(w.root, sizeof(w.root), "%s", root);
}

void p2pv_watch_fork_child(void)
{
	close_sock();
}

/* The kernel's uevent counter; -1 when it cannot be read */
static int read_seqnum(uint64_t *seq)
{
	char path[PATH_MAX], buf[32], *end;
	ssize_t r;

	if (w.seq_fd < 0) {
		if (p2pv_fmt(path, sizeof(path), "%s/kernel/uevent_seqnum",
			     w.root) < 0)
			return -1;
		w.seq_fd = open(path, O_RDONLY | O_CLOEXEC);
		if (w.seq_fd < 0)
			return -1;
	}
	r = pread(w.seq_fd, buf, sizeof(buf) - 1, 0);
	if (r <= 0)
		return -1;
	buf[r] = 0;
	*seq = strtoull(buf, &end, 10);
	return end == buf ? -1 : 0;
}

/* Does this process see the kernel's uevents?  Not from inside a user
 * namespace: uevents of devices go to the initial one's sockets only. */
static int uevents_reach_us(void)
{
	char map[128];
	unsigned long a, b, n;

	if (p2pv_read_str("/proc/self/uid_map", map, sizeof(map)) < 0 ||
	    sscanf(map, "%lu %lu %lu", &a, &b, &n) != 3)
		return 0;
	return a == 0 && b == 0 && n == 4294967295UL;
}

static int open_sock(void)
{
	struct sockaddr_nl sa;
	int fd;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    NETLINK_KOBJECT_UEVENT);
	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.nl_family = AF_NETLINK;
	sa.nl_groups = 1;	/* the kernel's uevents */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* What one uevent ("ACTION@DEVPATH\0KEY=VALUE\0...") changes */
static unsigned what_changed(const char *msg, size_t len)
{
	const char *p = msg, *end = msg + len;
	const char *sub;

	while (p < end) {
		size_t n = strnlen(p, (size_t)(end - p));

		if (n > 10 && !strncmp(p, "SUBSYSTEM=", 10)) {
			sub = p + 10;
			if (!strcmp(sub, "pci"))
				return P2PV_CHANGED_ALL;
			if (!strcmp(sub, "p2pmem"))
				return P2PV_CHANGED_PROVIDERS;
			if (!strcmp(sub, "infiniband"))
				return P2PV_CHANGED_DEVICES;
			return 0;
		}
		p += n + 1;
	}
	return 0;
}

/* Read whatever arrived: what it changes (a broken socket is closed, the
 * counter takes over, and everything changed) */
static unsigned drain(void)
{
	char msg[8192];
	unsigned changed = 0;

	for (;;) {
		ssize_t r = recv(w.sock, msg, sizeof(msg), MSG_DONTWAIT | MSG_TRUNC);

		if (r >= 0) {
			changed |= (size_t)r > sizeof(msg) ? P2PV_CHANGED_ALL :
				   what_changed(msg, (size_t)r);
			continue;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return changed;
		if (errno == EINTR)
			continue;
		if (errno == ENOBUFS) {		/* overflow: events were lost */
			changed = P2PV_CHANGED_ALL;
			continue;
		}
		close_sock();
		w.no_sock = 1;
		return P2PV_CHANGED_ALL;
	}
}

/*
 * Arm the watch before a build, so that whatever happens from now on is
 * seen by the next check.  A socket armed but never used drains events of
 * the past first.
 */
void p2pv_watch_arm(void)
{
	uint64_t seq = 0;

	if (!w.no_sock && w.sock < 0) {
		if (strcmp(w.root, "/sys") || !uevents_reach_us() ||
		    (w.sock = open_sock()) < 0)
			w.no_sock = 1;
	}
	if (w.sock >= 0) {
		drain();
		if (w.sock >= 0)
			return;
	}
	w.have_seq = read_seqnum(&seq) == 0;
	w.seqnum = seq;
}

unsigned p2pv_watch_changes(void)
{
	uint64_t seq;

	if (w.sock >= 0)
		return drain();
	if (!w.have_seq || read_seqnum(&seq) < 0)
		return P2PV_CHANGED_ALL;
	if (seq == w.seqnum)
		return 0;
	w.seqnum = seq;
	return P2PV_CHANGED_ALL;
}
