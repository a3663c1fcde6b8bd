#!/bin/bash
# Two hosts: two guests linked by an isolated Ethernet link.
#
# Boots two guests at once, each with the usual topology (its own NVMe CMB,
# ivshmem and edu) and a virtio-net NIC; the NICs are linked by a QEMU socket
# backend on 127.0.0.1 (run-vm.sh --peer-net: the server's QEMU listens, the
# client's connects).  Each guest runs a guest script with its role and the
# directory of a fresh pair of ssh keys: by default guest/two-hosts.sh (rxe
# on the NIC, ib_write_bw -R --use_p2p and the p2pv_rdma_cm example between
# them); guest/mpi-two-hosts.sh runs Open MPI/UCX and libfabric jobs over
# ssh.  Fails if either guest fails.
usage() {
	cat <<'EOU'
usage: two-hosts.sh [options] [-- GUEST-SCRIPT [ARGS...]]
  --topology NAME   topology of both guests (default rc)
  --timeout SEC     per-guest timeout (default 900)
  --port PORT       loopback TCP port of the link (default: a free one from --port-base)
  --port-base PORT  where the search for a free port starts (default 20000)
  --name NAME       run names are NAME-server and NAME-client (default two-hosts)
  --qemu-arg ARG    extra QEMU argument of both guests (repeatable)
GUEST-SCRIPT (default guest/two-hosts.sh) runs in both guests as
  GUEST-SCRIPT server|client KEYDIR [ARGS...]
where KEYDIR holds the ssh keys generated for this run (see guest/lib.sh peer_sshd).
Environment: as run-vm.sh (P2PV_LOGDIR, P2PV_BUILD, P2PV_KERNEL, P2PV_VERBOSE).
EOU
	exit 2
}
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
topology=rc timeout=900 port= port_base=20000 name=two-hosts qemu_args=()
while [ $# -gt 0 ]; do
	case "$1" in
	--topology) topology=$2; shift 2 ;;
	--timeout) timeout=$2; shift 2 ;;
	--port) port=$2; shift 2 ;;
	--port-base) port_base=$2; shift 2 ;;
	--name) name=$2; shift 2 ;;
	--qemu-arg) qemu_args+=(--qemu-arg "$2"); shift 2 ;;
	--) shift; break ;;
	*) usage ;;
	esac
done
guest=("$here/guest/two-hosts.sh")
[ $# -eq 0 ] || guest=("$(realpath "$1")" "${@:2}")

log() { echo "two-hosts: $*" >&2; }
listening() { ss -Hltn "src 127.0.0.1:$1" | grep -q .; }

if [ -z "$port" ]; then
	port=$port_base
	while listening "$port" || ss -Htan | awk '{ print $4 }' | grep -q ":$port\$"; do
		port=$((port + 1))
	done
fi

# Build (or find in the cache) the kernel and the userspace once, before the
# two run-vm.sh calls look them up at the same time.
[ -n "${P2PV_KERNEL:-}" ] || "$here/build-kernel.sh" >/dev/null
"$here/build-userspace.sh" >/dev/null

logdir=${P2PV_LOGDIR:-$(cd "$here/../.." && pwd)/build/vm-logs}

# ssh keys of this run, generated fresh, read by both guests over the shared
# root: one host key (both guests present it) and one user key (root's on
# both), so that mpirun can start its daemons on the other guest.
keydir=$logdir/$name-ssh
rm -rf "$keydir"
mkdir -p "$keydir"
chmod 700 "$keydir"
ssh-keygen -q -t ed25519 -N '' -C "p2pverbs $name host" -f "$keydir/host_ed25519"
ssh-keygen -q -t ed25519 -N '' -C "p2pverbs $name root" -f "$keydir/id_ed25519"

common=(--topology "$topology" --timeout "$timeout" "${qemu_args[@]}")
"$here/run-vm.sh" "${common[@]}" --name "$name-server" --peer-net "listen:$port" \
	-- "${guest[0]}" server "$keydir" "${guest[@]:1}" &
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
	-- "${guest[0]}" client "$keydir" "${guest[@]:1}" &
client=$!

# Monitor requests of the guests: a guest writes one QEMU monitor command
# (device_del, device_add) into monitor-request of its results directory;
# this relays it to its QEMU's monitor socket and leaves the answer in
# monitor-reply.  What a hot-unplug from outside the guest needs.
relay() {
	local dir req
	while :; do
		for dir in "$logdir/$name-server" "$logdir/$name-client"; do
			req=$dir/monitor-request
			[ -s "$req" ] || continue
			python3 "$here/monitor-command.py" "$dir/monitor.sock" "$(cat "$req")" \
				>"$dir/monitor-reply.tmp" 2>&1 || true
			rm -f "$req"
			mv "$dir/monitor-reply.tmp" "$dir/monitor-reply"
		done
		sleep 0.5
	done
}
relay &
relay_pid=$!

rc_client=0 rc_server=0
wait "$client" || rc_client=$?
wait "$server" || rc_server=$?
kill "$relay_pid" 2>/dev/null || true
wait "$relay_pid" 2>/dev/null || true
for role in server client; do
	grep -h -E '^ok: |^FAIL: ' "$logdir/$name-$role/console.log" 2>/dev/null | sed "s/^/  $role: /" >&2 || true
done
log "server exit $rc_server, client exit $rc_client"
[ "$rc_server" = 0 ] && [ "$rc_client" = 0 ] || exit 1
log "passed"
