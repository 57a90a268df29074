"""FaultProxy on real loopback sockets: aiohttp servers behind it, aiohttp clients in front.

Requests that must fail use POST: aiohttp retries an idempotent request once after a
disconnect, which would double the server's side effects and the proxy's counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
import trustme
from aiohttp import web

from relay.lab.faultproxy import FaultProxy, Mode, start_proxy

TIMEOUT = aiohttp.ClientTimeout(total=5)
DELAY = 0.2


@dataclass
class Backend:
    """An aiohttp server on 127.0.0.1:0 that counts the requests its handlers ran."""

    name: str
    hits: int = 0
    peer_certs: list[object] = field(default_factory=list)
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0
    runner: web.AppRunner | None = None

    async def start(self, ssl_context: ssl.SSLContext | None = None) -> Backend:
        app = web.Application()
        app.router.add_route("*", "/hello", self.hello)
        app.router.add_post("/slow", self.slow)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0, ssl_context=ssl_context).start()
        self.port = self.runner.addresses[0][1]
        return self

    async def hello(self, request: web.Request) -> web.Response:
        self.hits += 1
        if request.transport is not None:
            self.peer_certs.append(request.transport.get_extra_info("peercert"))
        await request.read()
        return web.Response(text=f"hello from {self.name}")

    async def slow(self, request: web.Request) -> web.Response:
        self.hits += 1
        self.entered.set()
        await self.release.wait()
        return web.Response(text="late")

    async def stop(self) -> None:
        self.release.set()
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


@pytest.fixture
async def backend() -> AsyncIterator[Backend]:
    server = await Backend("a").start()
    yield server
    await server.stop()


@pytest.fixture
async def proxy(backend: Backend) -> AsyncIterator[FaultProxy]:
    async with FaultProxy("127.0.0.1", backend.port) as p:
        yield p


def url(proxy: FaultProxy, path: str = "/hello", scheme: str = "http") -> str:
    return f"{scheme}://{proxy.url_host}{path}"


async def fetch(
    target: str,
    *,
    client_timeout: aiohttp.ClientTimeout = TIMEOUT,
    ssl_context: ssl.SSLContext | None = None,
) -> str:
    """POST on a fresh connection and return the body."""
    async with (
        aiohttp.ClientSession(timeout=client_timeout) as session,
        session.post(target, data=b"payload", ssl=ssl_context or True) as resp,
    ):
        assert resp.status == 200
        return await resp.text()


async def close_quietly(writer: asyncio.StreamWriter) -> None:
    """Close a client connection the proxy reset (``wait_closed`` re-raises the reset)."""
    writer.close()
    with contextlib.suppress(ConnectionResetError):
        await writer.wait_closed()


async def test_pass_forwards_both_ways(proxy: FaultProxy, backend: Backend) -> None:
    assert await fetch(url(proxy)) == "hello from a"
    assert backend.hits == 1
    assert proxy.stats.connections == 1
    assert proxy.stats.bytes_up > len(b"payload")
    assert proxy.stats.bytes_down > len(b"hello from a")
    assert proxy.url_host == f"127.0.0.1:{proxy.port}"


async def test_delay_holds_each_direction(proxy: FaultProxy, backend: Backend) -> None:
    proxy.set_mode(Mode.DELAY, delay=DELAY)
    start = time.monotonic()
    assert await fetch(url(proxy)) == "hello from a"
    elapsed = time.monotonic() - start
    # At least one chunk is held each way; the slack covers timer resolution only.
    assert elapsed >= 2 * DELAY - 0.005
    assert backend.hits == 1


async def test_drop_is_a_black_hole(proxy: FaultProxy, backend: Backend) -> None:
    proxy.set_mode(Mode.DROP)
    with pytest.raises(TimeoutError):
        await fetch(url(proxy), client_timeout=aiohttp.ClientTimeout(total=0.5))
    assert backend.hits == 0
    assert proxy.stats.connections == 1
    assert proxy.stats.bytes_up == proxy.stats.bytes_down == 0


async def test_reset_sends_rst_on_accept(proxy: FaultProxy, backend: Backend) -> None:
    proxy.set_mode(Mode.RESET)
    with pytest.raises((aiohttp.ClientOSError, aiohttp.ServerDisconnectedError)):
        await fetch(url(proxy))
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    try:
        with pytest.raises(ConnectionResetError):  # an RST, not an orderly FIN
            await asyncio.wait_for(reader.read(), 5)
    finally:
        await close_quietly(writer)
    assert backend.hits == 0
    assert proxy.stats.resets == proxy.stats.connections == 2


async def test_refuse_then_listen_again_on_the_same_port(
    proxy: FaultProxy, backend: Backend
) -> None:
    port = proxy.port
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        async with session.get(url(proxy)) as resp:
            assert await resp.text() == "hello from a"
        proxy.set_mode(Mode.REFUSE)
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", port)
        with pytest.raises(aiohttp.ClientConnectorError):
            await fetch(url(proxy))
        # The kept-alive connection was accepted before REFUSE and still works.
        async with session.get(url(proxy)) as resp:
            assert await resp.text() == "hello from a"
    proxy.set_mode(Mode.PASS)
    assert proxy.port == port
    assert await fetch(url(proxy)) == "hello from a"
    assert backend.hits == 3


async def test_start_in_refuse_reserves_the_port(backend: Backend) -> None:
    proxy = FaultProxy("127.0.0.1", backend.port)
    proxy.set_mode(Mode.REFUSE)
    async with proxy:
        assert proxy.port != 0
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", proxy.port)
        proxy.set_mode(Mode.PASS)
        assert await fetch(url(proxy)) == "hello from a"


async def test_cut_after_request_server_acts_client_never_learns(
    proxy: FaultProxy, backend: Backend
) -> None:
    proxy.set_mode(Mode.CUT_AFTER_REQUEST)
    with pytest.raises((aiohttp.ClientOSError, aiohttp.ServerDisconnectedError)):
        await fetch(url(proxy))
    assert backend.hits == 1
    assert proxy.stats.cuts == 1
    assert proxy.stats.bytes_up > 0
    assert proxy.stats.bytes_down == 0


async def test_retarget_follows_a_restarted_server(proxy: FaultProxy, backend: Backend) -> None:
    assert await fetch(url(proxy)) == "hello from a"
    await backend.stop()
    with pytest.raises((aiohttp.ClientOSError, aiohttp.ServerDisconnectedError)):
        await fetch(url(proxy))  # upstream down: the client is reset
    moved = await Backend("b").start()
    try:
        proxy.retarget("127.0.0.1", moved.port)
        assert await fetch(url(proxy)) == "hello from b"
    finally:
        await moved.stop()


async def test_cut_existing_kills_a_long_request(proxy: FaultProxy, backend: Backend) -> None:
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:

        async def slow() -> None:
            async with session.post(url(proxy, "/slow"), data=b"x") as resp:
                await resp.read()

        request = asyncio.create_task(slow())
        await asyncio.wait_for(backend.entered.wait(), 5)
        await proxy.cut_existing()
        with pytest.raises((aiohttp.ClientOSError, aiohttp.ServerDisconnectedError)):
            await asyncio.wait_for(request, 5)
    assert proxy.stats.cuts == 1
    assert await fetch(url(proxy)) == "hello from a"  # new connections still pass


async def test_half_close_and_large_transfers() -> None:
    """A client EOF reaches the server; the reply (several chunks) then comes back whole."""
    done = asyncio.Event()

    async def reverse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            data = await reader.read()  # until the client's EOF
            writer.write(data[::-1])
            await writer.drain()
            writer.close()
            await writer.wait_closed()
        finally:
            done.set()

    payload = bytes(range(256)) * 4096  # 1 MiB
    server = await asyncio.start_server(reverse, "127.0.0.1", 0)
    async with server:
        proxy = await start_proxy("127.0.0.1", server.sockets[0].getsockname()[1])
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            writer.write(payload)
            await writer.drain()
            writer.write_eof()
            assert await asyncio.wait_for(reader.read(), 5) == payload[::-1]
            writer.close()
            await writer.wait_closed()
            await asyncio.wait_for(done.wait(), 5)
        finally:
            await proxy.close()
    assert proxy.stats.bytes_up == proxy.stats.bytes_down == len(payload)


async def test_close_ends_open_connections(proxy: FaultProxy) -> None:
    proxy.set_mode(Mode.DROP)
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(b"into the void")
    await writer.drain()
    await proxy.close()
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(reader.read(), 5)
    await close_quietly(writer)
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", proxy.port)


@pytest.fixture(scope="module")
def tls() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server, client) contexts for mutual TLS from a throwaway CA."""
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    ca.configure_trust(server)
    server.verify_mode = ssl.CERT_REQUIRED
    client = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ca.configure_trust(client)
    ca.issue_cert("relay-client.example").configure_cert(client)
    return server, client


async def test_mutual_tls_passes_through_untouched(
    tls: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_ctx, client_ctx = tls
    backend = await Backend("tls").start(server_ctx)
    try:
        async with FaultProxy("127.0.0.1", backend.port) as proxy:
            target = url(proxy, scheme="https")
            assert await fetch(target, ssl_context=client_ctx) == "hello from tls"
            # The server saw the client's own certificate: the proxy never terminated TLS.
            cert = backend.peer_certs[0]
            assert isinstance(cert, dict)
            assert ("DNS", "relay-client.example") in cert["subjectAltName"]
            proxy.set_mode(Mode.DELAY, delay=0.01)
            assert await fetch(target, ssl_context=client_ctx) == "hello from tls"
            # Through TLS the first upstream bytes are the handshake: the cut comes before
            # any request, so the server never acts.
            proxy.set_mode(Mode.CUT_AFTER_REQUEST)
            with pytest.raises(aiohttp.ClientError):
                await fetch(target, ssl_context=client_ctx)
            assert backend.hits == 2
    finally:
        await backend.stop()
