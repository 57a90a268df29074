"""A loopback TCP proxy that injects network faults (``tc netem`` is not available).

It sits between relays (HTTPS with mutual TLS) and between a relay and the Slack emulator
(plain HTTP). It copies bytes and never terminates TLS. The ``Mode`` in force when a
connection is accepted decides what happens to that connection. Used by the tests and by
``relay chaos``.

The proxy only sees bytes. Through TLS, the first bytes from upstream are the server's
handshake, so ``CUT_AFTER_REQUEST`` cuts before any request is sent and the server never
acts. "The server acted, the client never learns" holds only for plain HTTP. ``DELAY``
holds chunks one after another, so it also limits throughput to 64 KiB per ``delay``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import Coroutine
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType
from typing import Any, Self

__all__ = ["CHUNK", "FaultProxy", "Mode", "ProxyStats", "start_proxy"]

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
_LINGER_RST = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST, not FIN


class Mode(StrEnum):
    """What the proxy does with a new connection."""

    PASS = "pass"  # forward both ways  # noqa: S105 (not a password)
    DELAY = "delay"  # forward, holding each chunk `delay` seconds (both directions)
    DROP = "drop"  # read and discard until the client closes; never connect upstream or answer
    RESET = "reset"  # accept, then close at once with a TCP RST
    REFUSE = "refuse"  # not listening: connections are refused; the port stays reserved
    CUT_AFTER_REQUEST = "cut_after_request"  # forward the request, RST on the first reply byte


@dataclass
class ProxyStats:
    """Counters since start. ``cuts`` counts connections reset mid-stream (by
    ``CUT_AFTER_REQUEST`` or ``cut_existing``); ``resets`` counts those reset on accept."""

    connections: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    cuts: int = 0
    resets: int = 0


def _rst(writer: asyncio.StreamWriter | None) -> None:
    """Close ``writer``'s connection at once with a TCP RST."""
    if writer is None:
        return
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
    writer.transport.abort()


@dataclass(eq=False)
class _Link:
    """One accepted connection: the client socket, its task and both stream writers."""

    conn: socket.socket
    task: asyncio.Task[None] | None = None
    client: asyncio.StreamWriter | None = None
    upstream: asyncio.StreamWriter | None = None

    def cut(self) -> None:
        """Reset both sides now."""
        with contextlib.suppress(OSError):  # already closed
            self.conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
        _rst(self.client)
        _rst(self.upstream)


class FaultProxy:
    """Listen on ``host:port`` (0: a free port) and forward to the target per ``Mode``."""

    def __init__(
        self, target_host: str, target_port: int, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self._target = (target_host, target_port)
        self._host = host
        self._port = port
        self._mode = Mode.PASS
        self._delay = 0.0
        self._sock: socket.socket | None = None  # bound; listening unless in REFUSE
        self._accept_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._links: set[_Link] = set()
        self._closed = False
        self.stats = ProxyStats()

    @property
    def port(self) -> int:
        """The bound port (0 before ``start``)."""
        return self._port

    @property
    def url_host(self) -> str:
        """``host:port`` to put in a URL."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{host}:{self._port}"

    @property
    def mode(self) -> Mode:
        """The mode for new connections."""
        return self._mode

    async def start(self) -> int:
        """Bind (and listen, unless in ``REFUSE``); return the bound port."""
        if self._sock is not None or self._closed:
            raise RuntimeError("FaultProxy already started or closed")
        self._sock = self._bind()
        self._port = self._sock.getsockname()[1]
        if self._mode is not Mode.REFUSE:
            self._listen(self._sock)
        return self._port

    def set_mode(self, mode: Mode, *, delay: float = 0.0) -> None:
        """Use ``mode`` for new connections; open ones keep theirs (see ``cut_existing``)."""
        if delay < 0:
            raise ValueError("delay must be >= 0")
        old, self._mode, self._delay = self._mode, Mode(mode), delay
        if self._sock is None or old is self._mode:
            return
        if self._mode is Mode.REFUSE:
            self._stop_listening()
            self._sock = self._bind()  # hold the port, not listening: SYNs get RST
        elif old is Mode.REFUSE:
            self._listen(self._sock)

    def retarget(self, host: str, port: int) -> None:
        """Send new connections to ``host:port`` (the upstream moved)."""
        self._target = (host, port)

    async def cut_existing(self) -> None:
        """Reset every open connection (both sides) and wait for its task to end."""
        links = list(self._links)
        tasks = [link.task for link in links if link.task is not None]
        for link in links:
            link.cut()
        for task in tasks:
            task.cancel()
        self.stats.cuts += len(links)
        if tasks:
            await asyncio.wait(tasks)

    async def close(self) -> None:
        """Stop listening, reset every connection and await every task."""
        self._closed = True
        self._stop_listening()
        for link in list(self._links):
            link.cut()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _bind(self) -> socket.socket:
        family, kind, proto, _, addr = socket.getaddrinfo(
            self._host, self._port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setblocking(False)
            sock.bind(addr)
        except BaseException:
            sock.close()
            raise
        return sock

    def _listen(self, sock: socket.socket) -> None:
        sock.listen(128)
        self._accept_task = self._spawn(self._accept(sock))

    def _stop_listening(self) -> None:
        sock, self._sock = self._sock, None
        task, self._accept_task = self._accept_task, None
        if sock is None:
            return
        if task is not None:
            # Unregister the pending accept before its descriptor is closed (and reused).
            task.get_loop().remove_reader(sock)
            task.cancel()
        sock.close()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._reap)
        return task

    def _reap(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("fault proxy task failed", exc_info=exc)

    async def _accept(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, _ = await loop.sock_accept(sock)
            except ConnectionAbortedError:
                continue
            self._on_accept(conn)

    def _on_accept(self, conn: socket.socket) -> None:
        self.stats.connections += 1
        if self._mode is Mode.RESET:
            self.stats.resets += 1
            with contextlib.suppress(OSError):
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
            conn.close()
            return
        link = _Link(conn)
        delay = self._delay if self._mode is Mode.DELAY else 0.0
        link.task = self._spawn(self._serve(link, self._mode, delay))
        self._links.add(link)
        link.task.add_done_callback(lambda _: self._forget(link))

    def _forget(self, link: _Link) -> None:
        self._links.discard(link)
        link.conn.close()  # in case the task was cancelled before it wrapped the socket

    async def _serve(self, link: _Link, mode: Mode, delay: float) -> None:
        try:
            reader, link.client = await asyncio.open_connection(sock=link.conn, limit=CHUNK)
            if mode is Mode.DROP:
                while await reader.read(CHUNK):
                    pass
                return
            try:
                up_reader, link.upstream = await asyncio.open_connection(
                    *self._target, limit=CHUNK
                )
            except OSError:
                link.cut()  # upstream down: the client sees a reset
                return
            cut = mode is Mode.CUT_AFTER_REQUEST
            async with asyncio.TaskGroup() as group:
                group.create_task(self._pump(reader, link.upstream, link, delay, up=True))
                group.create_task(self._pump(up_reader, link.client, link, delay, cut=cut))
        except OSError:
            link.cut()
        finally:
            writers = [w for w in (link.client, link.upstream) if w is not None]
            for writer in writers:
                writer.close()  # flushes what is buffered; a no-op after a cut
            for writer in writers:
                with contextlib.suppress(OSError):
                    await writer.wait_closed()

    async def _pump(
        self,
        src: asyncio.StreamReader,
        dst: asyncio.StreamWriter,
        link: _Link,
        delay: float,
        *,
        up: bool = False,
        cut: bool = False,
    ) -> None:
        """Copy ``src`` to ``dst`` until EOF, then half-close ``dst``; any error cuts both."""
        try:
            while chunk := await src.read(CHUNK):
                if cut:
                    self.stats.cuts += 1
                    link.cut()
                    return
                if delay:
                    await asyncio.sleep(delay)
                dst.write(chunk)
                if up:
                    self.stats.bytes_up += len(chunk)
                else:
                    self.stats.bytes_down += len(chunk)
                await dst.drain()
            if dst.can_write_eof():
                dst.write_eof()
        except OSError:
            link.cut()


async def start_proxy(target_host: str, target_port: int) -> FaultProxy:
    """A started ``FaultProxy`` on 127.0.0.1, a free port, forwarding to the target."""
    proxy = FaultProxy(target_host, target_port)
    await proxy.start()
    return proxy
