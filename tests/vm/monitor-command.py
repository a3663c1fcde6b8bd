#!/usr/bin/env python3
"""Send one command to a QEMU human monitor (run-vm.sh's monitor.sock) and
print what the monitor answered to it.

    monitor-command.py SOCKET COMMAND
"""
import socket
import sys
import time


def read_until_prompt(sock, deadline):
    out = b""
    while not out.endswith(b"(qemu) "):
        if time.monotonic() > deadline:
            raise TimeoutError("no monitor prompt")
        chunk = sock.recv(4096)
        if not chunk:
            break
        out += chunk
    return out.decode(errors="replace")


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: monitor-command.py SOCKET COMMAND")
    deadline = time.monotonic() + 30
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(30)
        sock.connect(sys.argv[1])
        read_until_prompt(sock, deadline)  # the banner
        sock.sendall(sys.argv[2].encode() + b"\n")
        answer = read_until_prompt(sock, deadline)
    # the echo of the command, the answer, the next prompt
    lines = [l.rstrip("\r") for l in answer.split("\n")]
    print("\n".join(l for l in lines[1:] if not l.startswith("(qemu)")).strip())


if __name__ == "__main__":
    main()
