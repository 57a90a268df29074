"""The supervisor's review queue (issue 16), end to end: real relays, the emulator's Slack,
clicks and modal submissions delivered signed over HTTP. No sleeps."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from relay.commands.demo import agencies
from relay.config import Supervisors
from relay.config_schema import ReviewConfig
from relay.lab.emulator.model import Json
from relay.lab.network import Agency, Network
from relay.slack.review_card import KEEP, RELEASE

CT, MA, NY, FC = "CT9990100", "MA9990200", "NY9990300", "CT999FC00"
OFFICER, SERGEANT, OTHER = "U0OKAFOR01", "U0SGTBAKR1", "U0FERREIR1"
BOLO = (
    "BOLO: armed robbery at the Sunoco on Whitney Ave last night. Suspect vehicle grey Honda "
    "Civic, CT reg 3KD-119, white male, 30s, red hoodie."
)
CAVEAT = "Do not forward this to other agencies until the DA signs off."


def _agencies() -> list[Agency]:
    officers = (
        (OFFICER, "Det. Sgt. R. Okafor"),
        (SERGEANT, "Sgt. A. Baker"),
        (OTHER, "Det. L. Ferreira"),
    )
    return [dataclasses.replace(a, officers=officers) if a.ori == CT else a for a in agencies()]


class _Reviewed(Network):
    """Havenport reviews held posts in its private channel; the sergeant is a supervisor."""

    expire_hours = 24.0

    async def _write_configs(self) -> None:
        await super()._write_configs()
        config = self.configs[CT]
        assert config.slack is not None
        ct = next(a for a in self.agencies if a.ori == CT)
        review = ReviewConfig(channel=ct.review_channel, expire_hours=self.expire_hours)
        slack = dataclasses.replace(
            config.slack, supervisors=Supervisors(users=frozenset({SERGEANT})), review=review
        )
        self.configs[CT] = dataclasses.replace(config, slack=slack)


@pytest.fixture
async def net(tmp_path: Path) -> AsyncIterator[Network]:
    async with _Reviewed(tmp_path, _agencies()) as network:
        yield network


def _ct(net: Network) -> Agency:
    return net.nodes[CT].agency


def cards(net: Network) -> list[Json]:
    assert net.emu is not None
    ct = _ct(net)
    return [m for m in net.emu.messages(ct.team, ct.review_channel) if m.get("blocks")]


async def one_card(net: Network) -> Json:
    assert net.emu is not None
    ct = _ct(net)
    await net.emu.wait_for_posts(ct.team, ct.review_channel, 1)
    found = cards(net)
    assert len(found) == 1
    return found[0]


def copies(net: Network, ori: str) -> list[Json]:
    assert net.emu is not None
    agency = net.nodes[ori].agency
    return [
        p
        for p in net.emu.messages(agency.team, agency.channel("bolo"))
        if ((p.get("metadata") or {}).get("event_payload") or {}).get("origin") == CT
    ]


async def release(
    net: Network, card: Json, user: str, mode: str, reason: str
) -> tuple[Json, Json]:
    """Click a release button and submit the modal; the two payloads Slack delivered."""
    assert net.emu is not None
    ct = _ct(net)
    started = time.monotonic()
    clicked = await net.emu.click(ct.team, ct.review_channel, card["ts"], user, RELEASE + mode)
    assert clicked.acked_within(3.0)
    (view,) = await net.emu.wait_for_views(ct.team, user=user)
    assert time.monotonic() - started < 3.0, "the modal opened while the trigger was valid"
    submitted = await net.emu.submit_view(
        ct.team,
        user,
        view.id,
        {"reason": {"code": reason}, "comment": {"text": "DA agreed by phone at 10:40"}},
    )
    assert submitted.acked_within(3.0)
    return clicked.payload, submitted.payload


def notes(net: Network, user: str) -> list[str]:
    """Ephemeral notes the relay showed ``user`` in Havenport's workspace."""
    assert net.emu is not None
    return [str(e["text"]) for e in net.emu.ephemeral(_ct(net).team) if e.get("user") == user]


def review_records(net: Network) -> list[object]:
    return [r.record for r in net.nodes[CT].relay.store.audit_rows() if r.record.event == "review"]


async def test_a_held_bolo_released_by_a_supervisor_reaches_partners_once(net: Network) -> None:
    net.post(CT, "bolo", OFFICER, BOLO + "\n" + CAVEAT)
    await net.settle(CT, 1)
    assert copies(net, MA) == []  # held: nothing left
    card = await one_card(net)
    shown = str(card["blocks"])
    assert "Do not forward" in shown  # the agency's own workspace: the original text
    assert "caveat.dissemination" in shown
    click, submission = await release(net, card, SERGEANT, "without_flagged", "officer_safety")
    await net.settle(CT, 2)
    for partner in (MA, NY):
        (copy,) = copies(net, partner)
        assert "Honda" in copy["text"], partner
        assert "Do not forward" not in copy["text"], partner
    (record, *more) = review_records(net)
    released = [record, *more]
    assert {r.actor_user for r in released} == {SERGEANT}  # type: ignore[attr-defined]
    assert {r.reason for r in released} == {"officer_safety"}  # type: ignore[attr-defined]
    assert {r.outcome for r in released} == {"released.without_flagged"}  # type: ignore[attr-defined]
    assert {r.destination for r in released} == {MA, FC}  # type: ignore[attr-defined]
    assert all("DA agreed" not in str(r) for r in released)  # the comment stays in Slack
    updated = cards(net)[0]
    assert "Released without the flagged parts" in str(updated["blocks"])
    assert "DA agreed" in str(updated["blocks"])  # on the card, in the agency's workspace
    assert not any(b.get("type") == "actions" for b in updated["blocks"])
    assert net.emu is not None
    assert any("released your post" in n for n in notes(net, OFFICER))

    # a second click (a card still open in another client) and a retried submission change
    # nothing, and say so
    ct = _ct(net)
    for payload in (click, submission):
        again = await net.emu.deliver_interaction(ct.team, payload)
        assert again.status == 200
    await net.settle(CT, 0)
    assert len(review_records(net)) == len(released)
    assert [len(copies(net, p)) for p in (MA, NY)] == [1, 1]
    assert any("closed already" in n for n in notes(net, SERGEANT))


async def test_only_a_supervisor_other_than_the_author_decides(net: Network) -> None:
    assert net.emu is not None
    net.post(CT, "bolo", OFFICER, BOLO + "\n" + CAVEAT)
    await net.settle(CT, 1)
    card = await one_card(net)
    ct = _ct(net)
    for user in (OTHER, OFFICER):  # not a supervisor; the author
        clicked = await net.emu.click(
            ct.team, ct.review_channel, card["ts"], user, RELEASE + "as_written"
        )
        assert clicked.acked_within(3.0)
        assert net.emu.open_views(ct.team, user) == []
        await net.emu.click(ct.team, ct.review_channel, card["ts"], user, KEEP)
    await net.settle(CT, 0)
    assert review_records(net) == []
    assert copies(net, MA) == []
    assert any("only a supervisor" in n for n in notes(net, OTHER))
    assert any("own post" in n for n in notes(net, OFFICER))
    # kept blocked by the sergeant: recorded once, nothing goes
    await net.emu.click(ct.team, ct.review_channel, card["ts"], SERGEANT, KEEP)
    await net.settle(CT, 0)
    (kept,) = review_records(net)
    assert kept.outcome == "kept"  # type: ignore[attr-defined]
    assert copies(net, MA) == []
    assert "Kept blocked" in str(cards(net)[0]["blocks"])


async def test_forged_and_stale_interactivity_payloads_are_refused(net: Network) -> None:
    assert net.emu is not None
    net.post(CT, "bolo", OFFICER, BOLO + "\n" + CAVEAT)
    await net.settle(CT, 1)
    card = await one_card(net)
    ct = _ct(net)
    payload = {
        "type": "block_actions",
        "user": {"id": SERGEANT},
        "actions": [{"action_id": KEEP, "value": card["blocks"][-1]["elements"][-1]["value"]}],
    }
    forged = await net.emu.deliver_interaction(ct.team, payload, secret="not-the-secret")
    assert forged.status == 401
    stale = await net.emu.deliver_interaction(
        ct.team, payload, timestamp=str(int(time.time()) - 3600)
    )
    assert stale.status == 401
    await net.settle(CT, 0)
    assert review_records(net) == []


class _Expiring(_Reviewed):
    expire_hours = 1e-6  # a few milliseconds: the card expires on the desk's next round


async def test_an_unreviewed_card_expires_and_says_so(tmp_path: Path) -> None:
    async with _Expiring(tmp_path, _agencies()) as net:
        assert net.emu is not None
        net.post(CT, "bolo", OFFICER, BOLO + "\n" + CAVEAT)
        await net.settle(CT, 1)
        slack = net.nodes[CT].relay.parts.slack
        assert slack is not None
        assert slack.review is not None
        await slack.review.board.tick()  # a round after the card's time
        (card,) = cards(net)
        assert "Expired unreviewed" in str(card["blocks"])
        assert not any(b.get("type") == "actions" for b in card["blocks"])
        (expired,) = review_records(net)
        assert expired.outcome == "expired"  # type: ignore[attr-defined]
        assert any("nobody reviewed" in n for n in notes(net, OFFICER))
        registry = net.nodes[CT].relay.metrics.registry
        got = registry.get_sample_value("relay_review_decisions_total", {"outcome": "expired"})
        assert got == 1
        assert registry.get_sample_value("relay_review_cards_open") == 0
        assert copies(net, MA) == []


async def test_open_cards_and_their_age_are_exported(net: Network) -> None:
    net.post(CT, "bolo", OFFICER, BOLO + "\n" + CAVEAT)
    await net.settle(CT, 1)
    await one_card(net)
    slack = net.nodes[CT].relay.parts.slack
    assert slack is not None
    assert slack.review is not None
    await slack.review.board.tick()
    registry = net.nodes[CT].relay.metrics.registry
    assert registry.get_sample_value("relay_review_cards_open") == 1
    assert registry.get_sample_value("relay_review_oldest_age_seconds") >= 0  # type: ignore[operator]
    assert registry.get_sample_value("relay_review_alert_after_seconds") == 3600


STRICTER = """
disable: [medical.detail]
detectors:
  - id: medical.detail
    action: block
    when: [[medical, medical_es_pt]]
"""
ROOT = Path(__file__).resolve().parents[2]


def _candidate(tmp: Path) -> Path:
    """Havenport's policy with the medical rule blocking instead of stripping."""
    base = ROOT / "policies" / "examples" / "ct9990100-havenport.yaml"
    text = base.read_text(encoding="utf-8").replace(
        "extends: ../baseline.yaml", f"extends: {ROOT / 'policies/baseline.yaml'}"
    )
    candidate = tmp / "candidate.yaml"
    candidate.write_text(text + STRICTER, encoding="utf-8")
    return candidate


MEDICAL = BOLO + "\nThe driver is diabetic and takes insulin daily; it is in the glovebox."


async def test_a_candidate_policy_that_would_block_more_shows_in_the_review_channel(
    net: Network, tmp_path: Path
) -> None:
    candidate = _candidate(tmp_path)
    net.configs[CT] = dataclasses.replace(net.configs[CT], policy_candidate=candidate)
    await net.kill(CT)
    await net.restart(CT)
    net.post(CT, "bolo", OFFICER, MEDICAL)
    await net.settle(CT, 1)
    (copy,) = copies(net, MA)  # the policy in force decided: redacted, sent
    assert "insulin" not in copy["text"]
    assert net.emu is not None
    ct = _ct(net)
    samples = [
        m
        for m in net.emu.messages(ct.team, ct.review_channel)
        if "candidate policy would" in str(m.get("blocks"))
    ]
    assert samples, "a sample in the review channel"
    shown = str([m["blocks"] for m in samples])  # one per partner
    assert "have blocked what is shared today" in shown
    assert "medical.detail" in shown
    assert "Millbrook PD" in shown
    registry = net.nodes[CT].relay.metrics.registry
    labels = {"partner": MA, "kind": "more_blocked", "rule": "medical.detail"}
    assert registry.get_sample_value("relay_policy_shadow_differences_total", labels) == 1


async def test_a_signed_payload_the_relay_cannot_read_is_acknowledged_and_counted(
    net: Network,
) -> None:
    assert net.emu is not None
    ct = _ct(net)
    secret = net.emu.workspace(ct.team).signing_secret.encode()
    url = str(net.nodes[CT].relay.slack_url).replace("/events", "/interactivity")
    registry = net.nodes[CT].relay.metrics.registry
    for body, reason in [
        (b"payload=%7Bnot-json", "json_invalid"),
        (b"payload=%5B%5D", "malformed"),  # JSON, not an object
        (b"payload=1&payload=2", "duplicate_key"),
    ]:
        stamp = str(int(time.time()))
        mac = hmac.new(secret, b"v0:" + stamp.encode() + b":" + body, hashlib.sha256)
        headers = {
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": "v0=" + mac.hexdigest(),
            "Content-Type": "application/x-www-form-urlencoded",
        }
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, data=body, headers=headers) as answer,
        ):
            assert answer.status == 200, reason
            assert await answer.json() == {"error": reason}
        counted = registry.get_sample_value("relay_slack_events_refused_total", {"reason": reason})
        assert counted == 1, reason
    assert review_records(net) == []


async def test_edits_follow_the_released_view_and_update_an_open_card(net: Network) -> None:
    assert net.emu is not None
    ct = _ct(net)
    root = net.post(CT, "bolo", OFFICER, BOLO + "\n" + CAVEAT)
    await net.settle(CT, 1)
    card = await one_card(net)
    # an edit while the card is open: the card shows the post as it reads now
    edited = BOLO.replace("3KD-119", "3KD-191") + "\n" + CAVEAT
    net.emu.edit_as_user(ct.team, ct.channel("bolo"), OFFICER, root, edited)
    await net.settle(CT, 1)
    slack = net.nodes[CT].relay.parts.slack
    assert slack is not None
    assert slack.review is not None
    await slack.review.board.tick()
    assert "3KD-191" in str(cards(net)[0]["blocks"])
    assert copies(net, MA) == []
    await release(net, card, SERGEANT, "without_flagged", "investigative_need")
    await net.settle(CT, 2)
    (copy,) = copies(net, MA)
    assert "3KD-191" in copy["text"]
    assert "Do not forward" not in copy["text"]
    # an edit of the released post is judged as the release was (its caveat still removed):
    # updated at the partner, not retracted as the policy alone would
    again = BOLO.replace("3KD-119", "3KD-911") + "\n" + CAVEAT
    net.emu.edit_as_user(ct.team, ct.channel("bolo"), OFFICER, root, again)
    await net.settle(CT, 1)
    (copy,) = copies(net, MA)
    assert "3KD-911" in copy["text"]
    assert "Do not forward" not in copy["text"]


async def test_a_release_decided_on_words_the_post_no_longer_has_is_refused(
    net: Network,
) -> None:
    """The modal is open; the author edits; the supervisor submits: nothing goes."""
    assert net.emu is not None
    ct = _ct(net)
    root = net.post(CT, "bolo", OFFICER, BOLO + "\n" + CAVEAT)
    await net.settle(CT, 1)
    card = await one_card(net)
    clicked = await net.emu.click(
        ct.team, ct.review_channel, card["ts"], SERGEANT, RELEASE + "without_flagged"
    )
    assert clicked.acked_within(3.0)
    (view,) = await net.emu.wait_for_views(ct.team, user=SERGEANT)
    net.emu.edit_as_user(
        ct.team, ct.channel("bolo"), OFFICER, root, BOLO + " Armed: shoot on sight.\n" + CAVEAT
    )
    await net.settle(CT, 1)
    await net.emu.submit_view(ct.team, SERGEANT, view.id, {"reason": {"code": "other"}})
    await net.settle(CT, 0)
    assert copies(net, MA) == []
    assert review_records(net) == []
    assert any("edited after the card" in n for n in notes(net, SERGEANT))


async def test_replies_to_a_held_post_are_held_and_shared_after_the_release(
    net: Network,
) -> None:
    assert net.emu is not None
    root = net.post(CT, "bolo", OFFICER, BOLO + "\n" + CAVEAT)
    await net.settle(CT, 1)
    card = await one_card(net)
    net.post(
        CT, "bolo", OTHER, "Saw a grey Civic at the Route 9 Dunkin 20 min ago.", thread_ts=root
    )
    await net.settle(CT, 1)
    assert copies(net, MA) == []  # the reply waits with its post
    assert any("review.held" in n for n in notes(net, OTHER))
    await release(net, card, SERGEANT, "without_flagged", "public_safety")
    await net.settle(CT, 3)
    root_copy, reply_copy = copies(net, MA)
    assert "Honda" in root_copy["text"]
    assert "Dunkin" in reply_copy["text"]
    assert reply_copy["thread_ts"] == root_copy["ts"]  # in the released copy's thread


async def test_a_review_channel_slack_refuses_does_not_stop_the_queue(tmp_path: Path) -> None:
    async with _Expiring(tmp_path, _agencies()) as net:
        assert net.emu is not None
        ct = _ct(net)
        net.emu.set_bot_member(ct.team, ct.review_channel, False)  # the bot never invited
        net.post(CT, "bolo", OFFICER, BOLO + "\n" + CAVEAT)
        await net.settle(CT, 1)
        slack = net.nodes[CT].relay.parts.slack
        assert slack is not None
        assert slack.review is not None
        await slack.review.board.tick()  # the card refused; the expiry and gauges still run
        assert cards(net) == []
        (expired,) = review_records(net)
        assert expired.outcome == "expired"  # type: ignore[attr-defined]
        assert any("nobody reviewed" in n for n in notes(net, OFFICER))
        registry = net.nodes[CT].relay.metrics.registry
        assert registry.get_sample_value("relay_review_cards_open") == 0
        recent = net.nodes[CT].relay.parts.recorder.recent
        assert any(p.where == "review" for p in recent), "the refused card is counted"


async def test_the_author_is_told_the_post_is_held(net: Network) -> None:
    net.post(CT, "bolo", OFFICER, BOLO + "\n" + CAVEAT)
    await net.settle(CT, 1)
    await one_card(net)
    assert any("held for a supervisor's review" in n for n in notes(net, OFFICER))
