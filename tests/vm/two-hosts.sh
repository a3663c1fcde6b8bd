#!/bin/bash
# Two hosts: P2P RDMA between two guests over librdmacm.
#
# Boots two guests at once, each with the usual topology (its own NVMe CMB,
# ivshmem and edu) and a virtio-net NIC; the NICs are linked by a QEMU socket
# backend on 127.0.0.1 (run-vm.sh --peer-net: the server's QEMU listens, the
# client's connects).  Each guest runs guest/two-hosts.sh with its role: rxe on
# the NIC, ib_write_bw -R --use_p2p and the p2pv_rdma_cm example between them.
# Fails if either guest fails.
usage() {
	cat <<'EOU'
usage: two-hosts.sh [options]
  --topology NAME   topology of both guests (default rc)
  --timeout SEC     per-guest timeout (default 900)
  --port PORT       loopback TCP port of the link (default: a free one from 20000)
  --name NAME       run names are NAME-server and NAME-client (default two-hosts)
Environment: as run-vm.sh (P2PV_LOGDIR, P2PV_BUILD, P2PV_KERNEL, P2PV_VERBOSE).
EOU
	exit 2
}
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
topology=rc timeout=900 port= name=two-hosts
while [ $# -gt 0 ]; do
	case "$1" in
	--topology) topology=$2; shift 2 ;;
	--timeout) timeout=$2; shift 2 ;;
	--port) port=$2; shift 2 ;;
	--name) name=$2; shift 2 ;;
	*) usage ;;
	esac
done

log() { echo "two-hosts: $*" >&2; }
listening() { ss -Hltn "src 127.0.0.1:$1" | grep -q .; }

if [ -z "$port" ]; then
	port=20000
	while listening "$port" || ss -Htan | awk '{ print $4 }' | grep -q ":$port\$"; do
		port=$((port + 1))
	done
fi

# Build (or find in the cache) the kernel and the userspace once, before the
# two run-vm.sh calls look them up at the same time.
[ -n "${P2PV_KERNEL:-}" ] || "$here/build-kernel.sh" >/dev/null
"$here/build-userspace.sh" >/dev/null

common=(--topology "$topology" --timeout "$timeout")
"$here/run-vm.sh" "${common[@]}" --name "$name-server" --peer-net "listen:$port" \
	-- "$here/guest/two-hosts.sh" server &
server=$!
# The client's QEMU can only connect once the server's QEMU listens.
deadline=$(($(date +%s) + 120))
until listening "$port"; do
	if ! kill -0 "$server" 2>/dev/null || [ "$(date +%s)" -ge "$deadline" ]; then
		log "the server's QEMU does not listen on 127.0.0.1:$port"
		kill "$server" 2>/dev/null || true
		wait "$server" || true
		exit 1
	fi
	sleep 0.5
done
"$here/run-vm.sh" "${common[@]}" --name "$name-client" --peer-net "connect:$port" \
	-- "$here/guest/two-hosts.sh" client &
client=$!

rc_client=0 rc_server=0
wait "$client" || rc_client=$?
wait "$server" || rc_server=$?
logdir=${P2PV_LOGDIR:-$(cd "$here/../.." && pwd)/build/vm-logs}
for role in server client; do
	grep -h -E '^ok: |^FAIL: ' "$logdir/$name-$role/console.log" 2>/dev/null | sed "s/^/  $role: /" >&2 || true
done
log "server exit $rc_server, client exit $rc_client"
[ "$rc_server" = 0 ] && [ "$rc_client" = 0 ] || exit 1
log "passed"
