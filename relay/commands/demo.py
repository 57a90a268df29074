"""`relay demo [--json]`: four agencies on loopback, the 20 example messages, what arrived.

Havenport PD (CT9990100) officers post the examples in their channels, including a photo, a
thread reply, an edit and a cancellation. Millbrook PD (MA9990200) and the CT State Fusion
Center (CT999FC00) are Havenport's partners and receive directly; Eastfield PD (NY9990300)
is linked to the fusion center only and receives what the fusion center passes on: the
origin's signature intact (Eastfield's relay.yaml pins Havenport's keys under ``origins:``),
the fusion center's own policy applied (it withholds lines with a direct phone number).
A photo of the briefing whiteboard names a source: the relays read the text in it, and
partners receive it with that line blacked out in the pixels. Then the conversation comes
back: in the thread of Millbrook's copy of Havenport's BOLO with
the suspect's photo, Sgt. P. Dunne identifies the suspect; the reply lands in Havenport's
thread under the BOLO and, through Havenport and the fusion center as hops, in the thread of
the fusion center's and Eastfield's copies. Every copy goes through each agency's policy.
Nothing outside this machine is used: the Slack workspaces are the emulator, the keys and
the CA are throwaway, the stores are SQLite files in a temporary directory.

``--json`` prints one line per message a relay posted, in any workspace (the origin's own
included: a partner's reply in its thread):
``{"workspace", "channel", "text", "files", "thread_of", "origin", "envelope_id", "via"}``
(``workspace``: the ORI of the workspace it was posted in; ``origin``: the agency that wrote
it; ``envelope_id``: ``<origin ORI>.`` then the rest; ``thread_of``: for a reply, the
envelope id of the thread's root as the envelope carries it, the origin's (a Havenport id in
Havenport's and Eastfield's workspaces alike), ``null`` for a top-level post; ``via``: the
ORIs of the relaying agencies the copy came through, in order, from the hops of the
envelope the receiving relay verified, ``[]`` when it came from its writer directly), then
``{"summary": {"posted": N, "blocked": N, "redacted": N}}`` (a contract: other tools read
it).
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

if TYPE_CHECKING:  # the network (aiohttp, the emulator) loads only when the demo runs
    from relay.lab.network import Agency, Network

__all__ = ["add_parser", "run_demo"]

_ROOT = Path(__file__).resolve().parents[2]
CT, MA, NY, FC = "CT9990100", "MA9990200", "NY9990300", "CT999FC00"
OKAFOR, FERREIRA, DUNNE = "U0OKAFOR01", "U0FERREI02", "U0MILLBR01"
# The case study's story: a partner's officer identifies the suspect in the photo BOLO.
PHOTO_BOLO = "15_photo_with_leaky_metadata"
# A photo of the morning's whiteboard: it names a source; the relay blacks that line out in
# the pixels (issue 17) and the rest of the board reaches partners.
BOARD = (
    "Briefing board from this morning: blue Honda Civic, plate 7KD-193, seen at the Ridge "
    "Road lot. Photo of the board attached."
)
IDENTIFIED = (
    "That is Dale Kessling, we arrested him last year for a gas station robbery on Route 9, "
    "same camo jacket. He stays with his sister on Elm St in Millbrook."
)


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
            officers=((DUNNE, "Sgt. P. Dunne"),),
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


async def _post_examples(net: Network) -> tuple[int, dict[str, str]]:
    """Post every example as Havenport officers: the number of events produced, and each
    example's ts in Havenport's workspace."""
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
    posted["board"] = net.post(CT, "bolo", FERREIRA, BOARD, files=[board_photo()])
    return events + 4, posted


def board_photo() -> tuple[str, bytes, str, str]:
    """The whiteboard photo (drawn, see relay/lab/photos.py): name, bytes, title, alt text."""
    from relay.lab.photos import drawn_photos, png

    board = next(p for p in drawn_photos() if p.name == "whiteboard.png")
    return ("IMG_0412.png", png(board.image), "Briefing board", "")


async def _identify(net: Network, bolo_ts: str) -> str:
    """Millbrook's officer identifies the suspect in the thread of Millbrook's copy of the
    photo BOLO (posted at ``bolo_ts`` in Havenport's workspace), as an officer does in
    Slack; waits until every relay has passed the reply on. Returns its envelope id."""
    assert net.emu is not None  # noqa: S101
    ct, ma = net.nodes[CT].agency, net.nodes[MA].agency
    root = f"{CT}.{ct.channel('bolo')}.{bolo_ts}"
    copies = [ts for e, ts in net.emu.marked_posts(ma.team, ma.channel("bolo")) if e == root]
    if len(copies) != 1:
        raise LookupError(f"Millbrook has {len(copies)} copies of {root}")
    events = net.events(MA) + 1
    reply = net.post(MA, "bolo", DUNNE, IDENTIFIED, thread_ts=copies[0])
    await net.settle(MA, events, timeout=60)
    return f"{MA}.{ma.channel('bolo')}.{reply}"


async def run_demo(*, as_json: bool) -> int:
    from relay.commands.demo_report import print_report, relay_posts, summary
    from relay.lab.network import Network

    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="relay-demo-") as tmp:
        async with Network(Path(tmp), agencies()) as net:
            events, posted = await _post_examples(net)
            await net.settle(CT, events, timeout=90)
            reply = await _identify(net, posted[PHOTO_BOLO])
            if as_json:
                for line in relay_posts(net):
                    print(json.dumps(line, ensure_ascii=False))
                print(json.dumps({"summary": summary(net)}))
            else:
                print_report(net, time.monotonic() - start, reply)
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
    p.add_argument("--json", action="store_true", help="one JSON line per relay post")
    p.set_defaults(func=_demo)
