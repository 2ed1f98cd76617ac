#!/usr/bin/env python3
"""Prints COUNT (default 1) distinct TCP ports nobody listens on right now
on 127.0.0.1, space-separated, for the servers a script starts.

They are drawn at random from below the kernel's ephemeral range
(net.ipv4.ip_local_port_range), never from it: a port the kernel handed
out for port 0 is one it also hands to outgoing connections. A server
restarted on its port after kill -9 could then find it taken by a client's
connection, or by a client retrying against it that connected to itself
(a connect to a loopback port nobody listens on may pick that very port as
its source: TCP simultaneous open), and fail to bind.

    python3 scripts/free_port.py        # one port
    python3 scripts/free_port.py 7      # seven distinct ports
"""
import secrets
import socket
import sys

LOWEST = 10000


def ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def probe(port):
    """Binds 127.0.0.1:port (0: the kernel picks) and lets it go: the port
    it got, or None when it is taken."""
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return s.getsockname()[1]
    except OSError:
        return None
    finally:
        s.close()


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    if count < 1 or count > 100:
        sys.exit("free_port.py: COUNT is 1..100")
    room = ephemeral_low() - LOWEST
    ports = []
    for _ in range(count * 200):
        if len(ports) == count:
            break
        # no room below the range: the kernel picks
        port = probe(LOWEST + secrets.randbelow(room) if room >= 1000 else 0)
        if port is not None and port not in ports:
            ports.append(port)
    if len(ports) < count:
        sys.exit("free_port.py: no free ports found")
    print(" ".join(str(p) for p in ports))


if __name__ == "__main__":
    main()
