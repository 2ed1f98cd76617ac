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


def free(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def kernel_pick():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    if count < 1 or count > 100:
        sys.exit("free_port.py: COUNT is 1..100")
    high = ephemeral_low()
    ports = []
    for _ in range(count * 200):
        if len(ports) == count:
            break
        if high - LOWEST < 1000:            # no room below the range: ask the kernel
            port = kernel_pick()
        else:
            port = LOWEST + secrets.randbelow(high - LOWEST)
        if port not in ports and free(port):
            ports.append(port)
    if len(ports) < count:
        sys.exit("free_port.py: no free ports found")
    print(" ".join(str(p) for p in ports))


if __name__ == "__main__":
    main()
