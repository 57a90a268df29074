"""Every class of bad input at once, at the lab's real relays (mutual TLS and the Slack
emulator on 127.0.0.1): junk at both Slack listeners, an unpinned certificate of the
partners' own CA, a pinned partner over its rate, wrong envelopes, replays, oversized and
deep bodies, mislabelled and hostile files. Then: no answer was a 5xx, no relay task died,
the ledger grew by no more than the aggregation rules allow, and a genuine BOLO posted at
Havenport afterwards reaches Millbrook once. ``pytest -s`` prints the figures."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import io
import json
import math
import ssl
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import aiohttp

from relay.app import RunningRelay
from relay.commands.demo import OKAFOR, agencies
from relay.federation.server import LIMITER
from relay.federation.tls import client_context
from relay.flow.refusal_tally import PER_WINDOW
from relay.lab.emulator.model import Json
from relay.lab.network import Network
from relay.store.sqlite import SqliteStore
from tests.attack.helpers import (
    BOMB,
    envelope,
    image,
    raw,
    request,
    signed,
    signed_garbage,
    unauthenticated,
)
from tests.attack.helpers import bomb as png_bomb
from tests.attack.helpers import post as slack_post

CT, MA = "CT9990100", "MA9990200"
ROUNDS = 6  # each Slack request class, per listener
FLOOD = 300  # requests from an unpinned certificate
BAD = 12  # each wrong envelope, from the pinned partner
REPLAYS = 100  # one valid envelope again
FILES = 8  # each hostile file
OVER, UNPINNED_OVER, BURST = 30, 100, 20  # the rate phase
PINNED_SINCE = dt.timedelta(hours=73)  # Millbrook's pin of Havenport's key: valid this long
GENUINE = "BOLO: stolen grey Honda Civic, CT reg 3KD-119, last seen on Whitney Ave (storm-after)"
REPLAYED = "BOLO: blue pickup, MA reg 7QX-204 (storm-replay)"


class _Storm(Network):
    """The demo's network, with Millbrook's pin of Havenport's signing key valid from three
    days back (a key pinned earlier): an envelope can then be too old without predating
    its key."""

    async def _write_configs(self) -> None:
        await super()._write_configs()
        config = self.configs[MA]
        link = config.partners[CT]
        keys = tuple(
            dataclasses.replace(k, not_before=k.not_before - PINNED_SINCE) for k in link.keys
        )
        partners = {**config.partners, CT: dataclasses.replace(link, keys=keys)}
        self.configs[MA] = dataclasses.replace(config, partners=partners)


@dataclasses.dataclass
class Tally:
    """Every answer: its status per class, the error codes each peer was given."""

    statuses: dict[str, Counter[int]] = dataclasses.field(
        default_factory=lambda: defaultdict(Counter)
    )
    codes: dict[str, set[str]] = dataclasses.field(default_factory=lambda: defaultdict(set))
    unexpected: list[tuple[str, int, str]] = dataclasses.field(default_factory=list)

    def note(self, what: str, status: int, text: str, *, peer: str | None = None) -> None:
        self.statuses[what][status] += 1
        if peer is not None and status >= 400:
            try:
                self.codes[peer].add(json.loads(text)["error"])
            except (ValueError, KeyError, TypeError):
                self.unexpected.append((what, status, text[:80]))

    def expect(self, what: str, allowed: set[int]) -> None:
        got = set(self.statuses.get(what, ()))
        if not got <= allowed:
            self.unexpected.append((what, max(got - allowed), f"allowed {sorted(allowed)}"))


def _events(relay: RunningRelay | SqliteStore) -> Counter[str]:
    store = relay.store if isinstance(relay, RunningRelay) else relay
    return Counter(str(c.record.event) for c in store.audit_rows())


def _receives(store: Any, after: int) -> list[tuple[str, str | None, int | None]]:
    return [
        (c.record.outcome, c.record.envelope_id, c.record.count)
        for c in store.audit_rows()[after:]
        if c.record.event == "receive" and c.record.source == CT
    ]


def _copies(net: Network, ori: str, text: str) -> list[Json]:
    """``ori``'s copies, in its bolo channel, of Havenport's messages carrying ``text``."""
    assert net.emu is not None
    agency = net.nodes[ori].agency
    return [
        p
        for p in net.emu.messages(agency.team, agency.channel("bolo"))
        if ((p.get("metadata") or {}).get("event_payload") or {}).get("origin") == CT
        and text in json.dumps(p)
    ]


def _dead_tasks(relay: RunningRelay) -> list[str]:
    """The relay's background tasks (listeners' workers, queues, refusals, receipts, files)
    that are no longer running."""
    tasks = [*relay.tasks, *relay.parts.queues._tasks]  # the queues keep theirs private
    assert tasks
    return [
        f"{t.get_coro()!r}: {t.exception()!r}" if not t.cancelled() else f"{t!r} cancelled"
        for t in tasks
        if t.done()
    ]


async def _slack_storm(net: Network, ori: str, tally: Tally) -> None:
    """Junk at one relay's Slack listener, unsigned and signed; ``/slack/interactivity``
    too when the relay has the route (``slack.review`` configured)."""
    relay = net.nodes[ori].relay
    assert net.emu is not None
    assert relay.slack_url is not None
    secret = net.emu.workspace(net.nodes[ori].agency.team).signing_secret
    url = relay.slack_url
    port = int(url.split(":")[2].split("/")[0])
    deep = b"[" * 10_000 + b"]" * 10_000
    garbage = [*signed_garbage(), ("10k levels deep", deep, "json_too_deep")]
    has_review = relay.parts.slack is not None and relay.parts.slack.review is not None
    if not has_review:
        print(f"{ori}: no /slack/interactivity route (slack.review not configured): not sent")
    async with aiohttp.ClientSession() as session:
        for _ in range(ROUNDS):
            for name, body, headers, expected, _ in unauthenticated(secret):
                status, text = await slack_post(session, url, body, headers)
                tally.note("slack unauthenticated", status, text)
                if status != expected:
                    tally.unexpected.append((f"slack {name}", status, text[:80]))
            for _, body, _ in garbage:
                status, text = await slack_post(session, url, body, signed(body, secret=secret))
                tally.note("slack signed garbage", status, text)
            unsigned = {"X-Slack-Signature": "v0=" + "0" * 64, "Content-Encoding": "gzip"}
            for body, headers in [
                (b"not gzip at all", {**unsigned, "X-Slack-Request-Timestamp": "1"}),
                (BOMB, {**signed(BOMB, secret=secret), "Content-Encoding": "gzip"}),
            ]:
                status, text = await raw(port, request("/slack/events", body, headers))
                tally.note("slack content-encoding", status, text)
            if has_review:
                for body in [b"payload=%7B", b"payload=" + b"%5B" * 5000, b"\xff\xfe"]:
                    headers = {
                        **signed(body, secret=secret),
                        "Content-Type": "application/x-www-form-urlencoded",
                    }
                    status, text = await slack_post(
                        session, url.replace("/events", "/interactivity"), body, headers
                    )
                    tally.note("slack interactivity", status, text)
    tally.expect("slack unauthenticated", {400, 401, 413})
    tally.expect("slack signed garbage", {200})
    tally.expect("slack content-encoding", {415})
    tally.expect("slack interactivity", {200, 400, 401})


def _wrong_envelopes(net: Network, now: dt.datetime) -> list[tuple[str, bytes, str]]:
    """(name, body, content type): envelopes from Havenport that Millbrook must refuse."""
    kid = net.configs[MA].partners[CT].keys[0].kid
    not_before = net.configs[MA].partners[CT].keys[0].not_before

    def wire(issued: dt.datetime, expires: dt.datetime) -> dict[str, Any]:
        return envelope(
            issuer=CT,
            audience=MA,
            key=net.keys[CT],
            kid=kid,
            envelope_id=f"storm-{uuid.uuid4().hex[:12]}",
            issued_at=issued,
            expires_at=expires,
        )

    day = dt.timedelta(days=1)
    good = wire(now, now + day)
    forged = json.loads(json.dumps(good))
    sig = forged["signatures"][0]["signature"]
    forged["signatures"][0]["signature"] = ("B" if sig[0] == "A" else "A") + sig[1:]
    text = json.dumps(good)
    duplicated = '{"payload": "eyJ9", ' + text[1:]  # "payload" twice: the last is valid
    return [
        ("bad signature", json.dumps(forged).encode(), "application/json"),
        ("duplicate keys", duplicated.encode(), "application/json"),
        ("UTF-16 body", text.encode("utf-16"), "application/json"),
        ("wrong Content-Type", text.encode(), "text/plain"),
        (
            "iat before the key",
            json.dumps(wire(not_before - dt.timedelta(hours=1), now + day)).encode(),
            "application/json",
        ),
        (
            "too old",
            json.dumps(wire(now - dt.timedelta(hours=60), now + day)).encode(),
            "application/json",
        ),
        (
            "lifetime too long",
            json.dumps(wire(now, now + dt.timedelta(days=31))).encode(),
            "application/json",
        ),
        (
            "deep nesting",
            b'{"payload": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
            "application/json",
        ),
        ("2 MiB body", b'{"payload": "' + b"A" * (2 << 20) + b'"}', "application/json"),
    ]


async def _envelope_storm(
    net: Network, session: aiohttp.ClientSession, good: ssl.SSLContext, tally: Tally
) -> None:
    ma = net.nodes[MA].relay
    wrong = _wrong_envelopes(net, dt.datetime.now(dt.UTC))

    async def one(name: str, body: bytes, mime: str) -> None:
        data = io.BytesIO(body) if len(body) > 1 << 19 else body
        async with session.post(
            f"{ma.url}/v1/envelopes", data=data, ssl=good, headers={"Content-Type": mime}
        ) as resp:
            tally.note(f"envelope: {name}", resp.status, await resp.text(), peer=CT)

    await asyncio.gather(*(one(*w) for w in wrong for _ in range(BAD)))
    for name, _, _ in wrong:
        tally.expect(f"envelope: {name}", {400, 401, 403, 413, 415, 422})


async def _replay_storm(
    net: Network, session: aiohttp.ClientSession, good: ssl.SSLContext, tally: Tally
) -> str:
    """One valid envelope, then the same again many times: accepted once, then duplicate."""
    ma = net.nodes[MA].relay
    now = dt.datetime.now(dt.UTC)
    envelope_id = f"storm-replay-{uuid.uuid4().hex[:8]}"
    body = json.dumps(
        envelope(
            issuer=CT,
            audience=MA,
            key=net.keys[CT],
            kid=net.configs[MA].partners[CT].keys[0].kid,
            envelope_id=envelope_id,
            issued_at=now,
            expires_at=now + dt.timedelta(days=1),
            text=REPLAYED,
        )
    ).encode()
    answers: Counter[str] = Counter()

    async def one() -> None:
        async with session.post(
            f"{ma.url}/v1/envelopes",
            data=body,
            ssl=good,
            headers={"Content-Type": "application/json"},
        ) as resp:
            text = await resp.text()
            tally.note("envelopes replayed", resp.status, text, peer=CT)
            if resp.status == 200:
                answers[json.loads(text)["status"]] += 1

    await one()
    await asyncio.gather(*(one() for _ in range(REPLAYS)))
    tally.expect("envelopes replayed", {200})
    assert answers == {"accepted": 1, "duplicate": REPLAYS}
    return envelope_id


async def _unpinned_flood(
    net: Network, session: aiohttp.ClientSession, bad: ssl.SSLContext, tally: Tally, n: int
) -> None:
    ma = net.nodes[MA].relay

    async def one() -> None:
        async with session.post(
            f"{ma.url}/v1/envelopes",
            data=b'{"payload": "x"}',
            ssl=bad,
            headers={"Content-Type": "application/json"},
        ) as resp:
            tally.note("unpinned certificate", resp.status, await resp.text(), peer="unknown")

    await asyncio.gather(*(one() for _ in range(n)))
    tally.expect("unpinned certificate", {403, 429})


async def _file_storm(
    net: Network, session: aiohttp.ClientSession, good: ssl.SSLContext, tally: Tally
) -> None:
    """Hostile files from the pinned partner, two at a time (its uploads in flight)."""
    ma = net.nodes[MA].relay
    png = image("PNG")
    cases = [
        ("random bytes as PNG", bytes(range(256)) * 64, "image/png"),
        ("PNG labelled JPEG", png, "image/jpeg"),
        ("PNG+ZIP polyglot", png + b"PK\x03\x04" + b"\x00" * 512, "image/png"),
        ("bomb header, 400 MP", png_bomb(20_000, 20_000), "image/png"),
    ]
    slots = asyncio.Semaphore(2)

    async def one(name: str, data: bytes, mime: str) -> None:
        async with (
            slots,
            session.put(
                f"{ma.url}/v1/files/{hashlib.sha256(data).hexdigest()}",
                data=data,
                ssl=good,
                headers={"Content-Type": mime},
            ) as resp,
        ):
            tally.note(f"file: {name}", resp.status, await resp.text(), peer=CT)

    await asyncio.gather(*(one(*c) for c in cases for _ in range(FILES)))
    for name, data, _ in cases:
        tally.expect(f"file: {name}", {413, 415, 422})
        assert ma.store.get_blob(hashlib.sha256(data).hexdigest()) is None


async def _rate_storm(
    net: Network, session: aiohttp.ClientSession, good: ssl.SSLContext, bad: ssl.SSLContext,
    tally: Tally,
) -> None:  # fmt: skip
    """Millbrook's limiter turned down: the pinned partner already over its rate, the
    unpinned sharing one small bucket. Restored afterwards."""
    ma = net.nodes[MA].relay
    limiter = ma.runner.app[LIMITER]
    saved = limiter.rate, limiter.burst
    limiter.rate, limiter.burst = 0.001, BURST  # nothing refills during the phase
    limiter._buckets.clear()
    limiter._buckets[CT] = (0.0, limiter.clock())
    try:

        async def over() -> None:
            async with session.post(
                f"{ma.url}/v1/envelopes",
                data=b"{}",
                ssl=good,
                headers={"Content-Type": "application/json"},
            ) as resp:
                tally.note("partner over its rate", resp.status, await resp.text(), peer=CT)
                assert resp.status != 429 or int(resp.headers["Retry-After"]) >= 1

        await asyncio.gather(
            *(over() for _ in range(OVER)),
            _unpinned_flood(net, session, bad, tally, UNPINNED_OVER),
        )
    finally:
        limiter.rate, limiter.burst = saved
        limiter._buckets.clear()
    tally.expect("partner over its rate", {429})


async def test_a_storm_of_bad_input_leaves_the_relays_whole_and_a_bolo_goes_through_once(
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    async with _Storm(tmp_path, agencies()) as net:
        ma, ct = net.nodes[MA].relay, net.nodes[CT].relay
        assert net.ca is not None
        for relay in (ma, ct):
            await relay.drain()
        before = {MA: _events(ma), CT: _events(ct)}
        seq_before = len(ma.store.audit_rows())
        windows_before = {(w.peer, w.reason) for w in ma.store.refusal_windows(limit=1000)}
        rows_before = Counter((r.peer, str(r.reason)) for r in ma.store.refusals())
        leaf = net.leaves[CT]
        good = client_context(leaf.cert, leaf.key, net.ca.ca_path)
        intruder = net.ca.issue("intruder")  # the partners' CA, pinned by nobody
        bad = client_context(intruder.cert, intruder.key, net.ca.ca_path)

        tally = Tally()
        storm_started = time.monotonic()
        connector = aiohttp.TCPConnector(limit=64)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def federation() -> str:
                got = await asyncio.gather(
                    _unpinned_flood(net, session, bad, tally, FLOOD),
                    _envelope_storm(net, session, good, tally),
                    _replay_storm(net, session, good, tally),
                    _file_storm(net, session, good, tally),
                )
                await _rate_storm(net, session, good, bad, tally)
                return got[2]

            _, _, replayed = await asyncio.gather(
                _slack_storm(net, MA, tally), _slack_storm(net, CT, tally), federation()
            )
        storm_seconds = time.monotonic() - storm_started
        for relay in (ma, ct):
            await relay.drain()  # refusals written, the replayed envelope posted
        during = {MA: _events(ma) - before[MA], CT: _events(ct) - before[CT]}
        dead = {ori: _dead_tasks(net.nodes[ori].relay) for ori in net.nodes}
        windows = {(w.peer, w.reason) for w in ma.store.refusal_windows(limit=1000)}
        rows = Counter((r.peer, str(r.reason)) for r in ma.store.refusals()) - rows_before

        # a genuine BOLO after the storm
        events = net.events(CT)
        net.post(CT, "bolo", OKAFOR, GENUINE)
        await net.settle(CT, events + 1)
        genuine_copies = _copies(net, MA, "storm-after")
        replay_copies = _copies(net, MA, "storm-replay")
        genuine = {MA: _events(ma) - before[MA] - during[MA]}
        dead_after = {ori: _dead_tasks(net.nodes[ori].relay) for ori in net.nodes}
    # stopped: every refusal and duplicate window closed with its count
    store = SqliteStore(tmp_path / MA / "relay.db")
    try:
        final = _events(store) - before[MA]
        receives = _receives(store, seq_before)
    finally:
        store.close()
    elapsed = time.monotonic() - started

    sent = {what: sum(c.values()) for what, c in tally.statuses.items()}
    keys = {(peer, code) for peer, codes in tally.codes.items() for code in codes}
    window_s = ma.config.federation.refusal_window
    per_key = 1 + math.floor(elapsed / window_s)  # windows a key can open while we ran
    print()
    print(f"storm: {sum(sent.values())} requests in {storm_seconds:.1f} s (test {elapsed:.1f} s)")
    for what in sorted(sent):
        statuses = dict(sorted(tally.statuses[what].items()))
        print(f"  {what:<32} sent {sent[what]:>4}  statuses {statuses}")
    print(f"  codes given: { {p: sorted(c) for p, c in tally.codes.items()} }")
    print(f"ledger at {MA} by event type: storm {dict(during[MA])}")
    print(f"  the genuine bolo {dict(genuine[MA])}")
    print(f"  after stop (storm + bolo + closing records): {dict(final)}")
    print(f"ledger at {CT} during the storm: {dict(during[CT])}")
    print(f"refusal windows opened {len(windows - windows_before)}, rows kept {rows.total()}")
    print(f"copies at {MA}: genuine {len(genuine_copies)}, replayed {len(replay_copies)}")

    # no 5xx, every answer as its class allows, with an error code
    assert not [s for c in tally.statuses.values() for s in c if s >= 500], tally.statuses
    assert not tally.unexpected, tally.unexpected
    # no worker died, during the storm or after
    assert dead == {ori: [] for ori in net.nodes}, dead
    assert dead_after == {ori: [] for ori in net.nodes}, dead_after
    # the ledger: refusals in aggregate (an opening record per peer, reason and window, and
    # a closing one with the count), replays in aggregate, nothing else but what the one
    # accepted (replayed) envelope costs, which is what a genuine message costs
    assert during[CT] == Counter(), "junk at Havenport's Slack listener writes nothing"
    assert during[MA]["refusal"] <= len(keys) * per_key
    assert final["refusal"] <= 2 * len(keys) * per_key
    assert receives[:2] == [("new", replayed, None), ("duplicate", replayed, None)]
    assert receives.count(("duplicate", None, REPLAYS)) == 1, receives
    assert len([r for r in receives if r[0] == "duplicate"]) <= 2 * per_key
    for event, count in during[MA].items():
        if event not in ("refusal", "receive"):
            assert count <= genuine[MA][event], (event, count, genuine[MA])
    assert during[MA]["receive"] <= genuine[MA]["receive"] + per_key  # + first duplicate
    # one refusal window per peer and reason refused; at most PER_WINDOW rows kept from each
    assert windows - windows_before == keys
    assert all(n <= PER_WINDOW * per_key for n in rows.values()), rows
    assert set(rows) <= keys
    # delivered once: the genuine BOLO, and the replayed envelope however often it came
    assert len(genuine_copies) == 1
    assert len(replay_copies) == 1
