"""Free loopback ports for a lab whose relays must know each other's ports before they start.

A port the kernel hands out for ``bind(0)`` comes from the ephemeral range (Linux: 32768 to
60999), the same range every outgoing connection draws its local port from: between choosing
it and binding it, a client connection elsewhere on the machine may take it. Ports are
therefore chosen below that range, at random, and checked free (held until all are chosen).
"""

from __future__ import annotations

import random
import socket
from contextlib import ExitStack

__all__ = ["free_port", "free_ports"]

_LOW, _HIGH = 20000, 32000  # below the usual ephemeral ranges (Linux 32768+, BSD 49152+)


def free_ports(n: int) -> list[int]:
    """``n`` distinct free loopback ports."""
    rng = random.SystemRandom()
    with ExitStack() as stack:
        ports: list[int] = []
        for _ in range(200 * max(n, 1)):
            if len(ports) == n:
                break
            port = rng.randrange(_LOW, _HIGH)
            if port in ports:
                continue
            s = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            ports.append(port)
        if len(ports) < n:  # a crowded range: let the kernel choose
            for _ in range(n - len(ports)):
                s = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
                s.bind(("127.0.0.1", 0))
                ports.append(int(s.getsockname()[1]))
        return ports


def free_port() -> int:
    return free_ports(1)[0]
