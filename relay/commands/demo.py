"""`relay demo [--json]`: four agencies on loopback, the 20 example messages, what arrived.

Havenport PD (CT9990100) officers post the examples in their channels, including a photo, a
thread reply, an edit and a cancellation. Millbrook PD (MA9990200) and the CT State Fusion
Center (CT999FC00) are Havenport's partners and receive directly; Eastfield PD (NY9990300)
is linked to the fusion center only and receives what the fusion center passes on: the
origin's signature intact (Eastfield's relay.yaml pins Havenport's keys under ``origins:``),
the fusion center's own policy applied (it withholds lines with a direct phone number).
Every copy goes through each agency's policy. Nothing outside this machine is used: the
Slack workspaces are the emulator, the keys and the CA are throwaway, the stores are SQLite
files in a temporary directory.

``--json`` prints one line per message posted in a partner workspace:
``{"workspace", "channel", "text", "files", "thread_of", "origin", "envelope_id", "via"}``
(``via``: the ORIs of the relaying agencies the copy came through, in order, from the hops
of the envelope the receiving relay verified; ``[]`` when it came from the origin directly),
then ``{"summary": {"posted": N, "blocked": N, "redacted": N}}`` (a contract: other tools
read it).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from relay.core.mrkdwn import unescape
from relay.core.policy.units import split_units

if TYPE_CHECKING:  # the network (aiohttp, the emulator) loads only when the demo runs
    from relay.lab.network import Agency, Network

__all__ = ["add_parser", "run_demo"]

_ROOT = Path(__file__).resolve().parents[2]
CT, MA, NY, FC = "CT9990100", "MA9990200", "NY9990300", "CT999FC00"
OKAFOR, FERREIRA = "U0OKAFOR01", "U0FERREI02"


def agencies(root: Path = _ROOT) -> list[Agency]:
    """Havenport, Millbrook and Eastfield (in that order: tools take the first two), then the
    fusion center. Links: Havenport - Millbrook, Havenport - fusion center - Eastfield."""
    from relay.lab.network import Agency

    examples = root / "policies" / "examples"
    return [
        Agency(
            CT,
            "Havenport PD",
            "T0HAVENPT1",
            examples / "ct9990100-havenport.yaml",
            officers=((OKAFOR, "Det. Sgt. R. Okafor"), (FERREIRA, "Det. L. Ferreira")),
            partners=(MA, FC),
        ),
        Agency(
            MA,
            "Millbrook PD",
            "T0MILLBRK1",
            examples / "ma9990200-millbrook.yaml",
            officers=(("U0MILLBR01", "Sgt. P. Dunne"),),
            partners=(CT,),
        ),
        Agency(
            NY,
            "Eastfield PD",
            "T0EASTFLD1",
            examples / "ny9990300-eastfield.yaml",
            officers=(("U0EASTFL01", "Det. K. Osei"),),
            partners=(FC,),
        ),
        Agency(
            FC,
            "CT State Fusion Center",
            "T0CTFUSC01",
            examples / "ct999fc00-ct-fusion-center.yaml",
            officers=(("U0CTFUSC01", "Analyst J. Marsh"),),
            partners=(CT, NY),
        ),
    ]


def examples() -> list[tuple[str, dict[str, Any]]]:
    folder = resources.files("relay") / "data" / "demo"
    return sorted(
        (p.name.removesuffix(".json"), json.loads(p.read_text(encoding="utf-8")))
        for p in folder.iterdir()
        if p.name.endswith(".json")
    )


def photo(label: str) -> bytes:
    """A small JPEG carrying EXIF GPS and camera tags: the relay must not pass them on."""
    from PIL import Image

    img = Image.new("RGB", (96, 64), (40 + len(label) % 200, 90, 140))
    exif = Image.Exif()
    exif[0x010F] = "DoorbellCam"  # Make
    exif[0x8825] = {1: "N", 2: (41.0, 45.0, 30.0), 3: "W", 4: (72.0, 40.0, 12.0)}  # GPS
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif)
    return out.getvalue()


async def _post_examples(net: Network) -> int:
    """Post every example as Havenport officers; returns the number of events produced."""
    assert net.emu is not None  # noqa: S101
    posted: dict[str, str] = {}
    events = 0
    later = {"12_cancellation", "13_update_with_internal_links"}
    for name, case in examples():
        if name in later:
            continue
        topic = str(case["channel"]).lstrip("#")
        files = [
            (f["name"], photo(f["name"]), f.get("title", ""), f.get("alt_txt", ""))
            for f in case.get("files") or []
        ]
        posted[name] = net.post(CT, topic, OKAFOR, case["text"], files=files)
        events += 1
    cases = dict(examples())
    root = posted["01_harmless_vehicle_bolo"]
    # The update goes in the BOLO's thread; an edit corrects the original; then the cancel.
    net.post(CT, "bolo", FERREIRA, cases["13_update_with_internal_links"]["text"], thread_ts=root)
    edited = cases["01_harmless_vehicle_bolo"]["text"].replace(
        "(plate may be switched)", "(plate may be switched, see thread)"
    )
    net.emu.edit_as_user(
        net.nodes[CT].agency.team, net.nodes[CT].agency.channel("bolo"), OKAFOR, root, edited
    )
    net.post(CT, "bolo", OKAFOR, cases["12_cancellation"]["text"], thread_ts=root)
    return events + 3


def via(net: Network, ori: str, origin: str, envelope_id: str) -> list[str]:
    """The relaying agencies a copy came through to ``ori``, in order: the hop signers of the
    envelope ``ori``'s relay verified and posted (``[]``: from the origin directly)."""
    delivery = net.received.get((ori, origin, envelope_id))
    if delivery is None:  # posted only by a relay: never so in the demo
        raise LookupError(f"{ori} has no delivery of {envelope_id}")
    return [str(hop.signer) for hop in delivery.envelope.hops]


def partner_posts(net: Network) -> list[dict[str, Any]]:
    """Every message the relays posted in partner workspaces, in the --json line format."""
    assert net.emu is not None  # noqa: S101
    out: list[dict[str, Any]] = []
    for ori, node in net.nodes.items():
        if ori == CT:
            continue
        for topic in ("bolo", "ctwide-intel", "narcotics", "pattern-crime", "dd-burglaries"):
            channel = node.agency.channel(topic)
            posts = net.emu.bot_posts(node.agency.team, channel)
            by_ts = {p["ts"]: p for p in posts}
            for post in posts:
                payload = ((post.get("metadata") or {}).get("event_payload")) or {}
                if "envelope_id" not in payload:
                    continue  # a file share belongs to the post it follows
                files = [
                    f.get("title") or f.get("name")
                    for p in posts
                    if p.get("thread_ts") in (post["ts"], post.get("thread_ts"))
                    for f in p.get("files") or []
                    if str(f.get("name", "")).startswith(payload["envelope_id"])
                ]
                root = by_ts.get(post.get("thread_ts") or "")
                thread_of = None
                if root is not None and root["ts"] != post["ts"]:
                    thread_of = ((root.get("metadata") or {}).get("event_payload") or {}).get(
                        "envelope_id"
                    )
                out.append(
                    {
                        "workspace": ori,
                        "channel": topic,
                        "text": post.get("text", ""),
                        "files": files,
                        "thread_of": thread_of,
                        "origin": payload.get("origin"),
                        "envelope_id": payload["envelope_id"],
                        "via": via(net, ori, payload["origin"], payload["envelope_id"]),
                    }
                )
    return out


def _units(text: str, removed: int, indent: int, withheld: tuple[int, str] = (0, "")) -> str:
    """The partner's view unit by unit: each sentence, template line or list item it
    received, then how many lines a relaying hop withheld and how many units its copy lacks."""
    shown = []
    for unit in split_units(unescape(text)):
        unit = " ".join(unit.split())
        shown.append(f"| {unit[:96] + '...' if len(unit) > 99 else unit}")
    lines, by = withheld
    if lines:
        shown.append(f"x {lines} line{'s' if lines > 1 else ''} withheld by {by}")
    if removed:
        shown.append(f"x {removed} unit{'s' if removed > 1 else ''} removed")
    return f"\n{'':{indent}}".join(shown) if shown else "(no text)"


def _dead_letters(net: Network) -> dict[tuple[str, str], tuple[str, str]]:
    """(partner, envelope id) -> (the relay whose outbox gave up on it, the reason)."""
    out = {}
    for ori, node in net.nodes.items():
        for e in node.relay.store.queue_entries(state="dead"):
            if e.queue == "outbox" and e.reason:
                out[(e.peer, e.envelope_id)] = (ori, e.reason)
    return out


def _not_shown(jti: str, refused: str | None, blocked: bool) -> str:
    if blocked:
        return "nothing posted"
    if refused is not None:
        return f"refused by the partner's relay: {refused}"
    if ".e" in jti:
        return "(an edit: the earlier copy was updated in place)"
    return "(applied to the earlier copy)"


def _report(net: Network, seconds: float) -> None:
    judged = net.judged[CT]
    names = {a.ori: a.name for a in net.agencies}
    width = max(len(a.name) for a in net.agencies if a.ori != CT)
    indent = width + 4
    received = {(p["workspace"], p["envelope_id"]): p for p in partner_posts(net)}
    refused = _dead_letters(net)
    direct = [o for o in net.links[CT]]
    hopped = [a.ori for a in net.agencies if a.ori != CT and a.ori not in direct]
    hops = " and ".join(f"{names[o]} ({o})" for o in hopped)
    print(
        f"relay demo: Havenport PD ({CT}) posted {len(judged)} messages; "
        + " and ".join(f"{names[o]} ({o})" for o in direct)
        + " received them through their relays"
        + (f", {hops} through a relaying hop" if hops else "")
        + f", in {seconds:.1f} s.\n"
    )
    for jti, decisions in judged:
        print(f"envelope {jti}")
        for ori, decision in decisions.items():
            rules = ", ".join(f"{r.rule} ({r.count})" for r in decision.reasons)
            got = received.get((ori, jti))
            own = net.received.get((ori, CT, jti))  # its relay's view: its own rules applied
            removed = len(decision.trace) + (len(own.decision.trace) if own else 0)
            if got is not None:
                shown = _units(got["text"], removed, indent)
                if got["files"]:
                    shown += f"\n{'':{indent}}[photo: {', '.join(got['files'])}]"
            else:
                dead = refused.get((ori, jti))
                reason = dead[1] if dead else None
                shown = _not_shown(jti, reason, decision.action.value == "block")
            label = decision.action.value + (f" [{rules}]" if rules else "")
            print(f"   {names.get(ori, ori):<{width}} {label}\n{'':{indent}}{shown}")
        for ori in hopped:
            print(f"   {names[ori]:<{width}} {_relayed(net, ori, jti, received, refused, indent)}")
    print()


def _relayed(
    net: Network,
    ori: str,
    jti: str,
    received: dict[tuple[str, str], dict[str, Any]],
    refused: dict[tuple[str, str], tuple[str, str]],
    indent: int,
) -> str:
    """What ``ori``, reached only through a hop, made of envelope ``jti``: the path (from the
    envelope its relay verified) and its own policy's decision, then its view."""
    delivery = net.received.get((ori, CT, jti))
    if delivery is None:
        if (ori, jti) in refused:
            relayer, reason = refused[(ori, jti)]
            return f"via {relayer}\n{'':{indent}}{_not_shown(jti, reason, False)}"
        return "nothing passed on to it"
    decision = delivery.decision
    path = [CT, *(str(h.signer) for h in delivery.envelope.hops), ori]
    rules = ", ".join(f"{r.rule} ({r.count})" for r in decision.reasons)
    label = f"path {' → '.join(path)}, its own policy: {decision.action.value}"
    label += f" [{rules}]" if rules else ""
    got = received.get((ori, jti))
    if got is None:
        return f"{label}\n{'':{indent}}{_not_shown(jti, None, False)}"
    withheld = (delivery.envelope.withheld, ", ".join(path[1:-1]))
    shown = _units(got["text"], len(decision.trace), indent, withheld)
    if got["files"]:
        shown += f"\n{'':{indent}}[photo: {', '.join(got['files'])}]"
    return f"{label}\n{'':{indent}}{shown}"


def _summary(net: Network) -> dict[str, int]:
    actions = [d.action.value for _, decisions in net.judged[CT] for d in decisions.values()]
    return {
        "posted": len(partner_posts(net)),
        "blocked": actions.count("block"),
        "redacted": actions.count("redact"),
    }


def _audit_line(net: Network) -> str:
    """Each relay's dissemination ledger, its hash chain checked end to end."""
    from relay.core.audit import verify_chain

    parts = []
    for ori, node in net.nodes.items():
        store = node.relay.store
        verdict = verify_chain(store.audit_rows(), [], store.audit_anchor())
        state = "verified" if verdict.ok else f"BROKEN at {verdict.first_bad_seq}"
        parts.append(f"{ori} {verdict.records} records {state}")
    return "audit ledgers: " + "; ".join(parts)


async def run_demo(*, as_json: bool) -> int:
    from relay.lab.network import Network

    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="relay-demo-") as tmp:
        async with Network(Path(tmp), agencies()) as net:
            events = await _post_examples(net)
            await net.settle(CT, events, timeout=90)
            if as_json:
                for line in partner_posts(net):
                    print(json.dumps(line, ensure_ascii=False))
                print(json.dumps({"summary": _summary(net)}))
            else:
                _report(net, time.monotonic() - start)
                print(_audit_line(net))
                s = _summary(net)
                print(
                    f"summary: {s['posted']} messages posted in partner workspaces, "
                    f"{s['blocked']} blocked and {s['redacted']} redacted decisions."
                )
    return 0


def _demo(args: argparse.Namespace) -> int:
    from relay.logs import configure_logging

    # The report below names every refusal and dead letter (the demo's unreachable partner
    # among them): the log shows errors only.
    configure_logging("auto", "error")
    try:
        return asyncio.run(run_demo(as_json=args.json))
    except TimeoutError:
        print("relay demo: partners did not receive everything in time", file=sys.stderr)
        return 1


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("demo", help="four agencies on loopback, the example messages")
    p.add_argument("--json", action="store_true", help="one JSON line per partner post")
    p.set_defaults(func=_demo)
