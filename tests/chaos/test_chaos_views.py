"""The expectation ``relay chaos`` holds each partner's view against, without a network:
what officers did -> each partner's expected view -> the kinds of difference it finds."""

from __future__ import annotations

from types import SimpleNamespace

from relay.commands.chaos_traffic import Item, Op
from relay.commands.chaos_views import Want, _differences, cancelled_text, compare, expect
from relay.lab.emulator.users import RelayCopy

CT, MA, NY = "CT9990100", "MA9990200", "NY9990300"
SAFE, UNSAFE = "BOLO 1 (rev 0): red Ford.", "BOLO 1 (rev 1): red Ford. (S//NF) secret."


class _Paths:
    """Millbrook shows CT's text as it is, and nothing marked (S//NF)."""

    def __init__(self) -> None:
        self.policies = {MA: SimpleNamespace(cancellations="mark", orphan_replies="post")}

    def views(self, workspace: str, origin: str, text: str) -> frozenset[str]:
        return frozenset() if "(S//NF)" in text else frozenset({text})


def _item(ts: str, text: str, root: Item | None = None, **kw: bool) -> Item:
    envelope = f"{CT}.C1.{ts}"
    return Item(n=1, origin=CT, user="U1", ts=ts, envelope=envelope, text=text, root=root, **kw)


def _copy(item: Item, text: str, thread: str | None = None, **kw: object) -> RelayCopy:
    fields: dict[str, object] = {"broadcast": False, "tombstone": False, "context": ""} | kw
    return RelayCopy(
        envelope_id=item.envelope,
        ts=f"9{item.ts}",
        thread_ts=thread,
        text=text,
        **fields,  # type: ignore[arg-type]
    )


def test_an_edit_made_unsafe_then_safe_again_is_expected_back() -> None:
    root = _item("1.1", SAFE)
    ops = [Op("post", root, SAFE), Op("edit", root, UNSAFE), Op("edit", root, SAFE + " v2")]
    root.text = SAFE + " v2"
    reply = _item("1.2", "seen again", root=root)
    ops.append(Op("post", reply, reply.text))
    wants = expect(_Paths(), ops, [CT, MA])  # type: ignore[arg-type]
    assert set(wants) == {(MA, root.envelope), (MA, reply.envelope)}
    assert wants[(MA, root.envelope)].texts == {SAFE + " v2"}
    assert wants[(MA, reply.envelope)].orphan_ok, "its BOLO had no copy for a while"


def test_a_cancellation_marks_its_bolo_and_a_delete_removes_it() -> None:
    root, other = _item("1.1", SAFE), _item("1.3", SAFE)
    cancel = _item("1.2", "*** CANCEL BOLO ***", root=root, cancel=True)
    other.deleted = True
    ops = [
        Op("post", root, SAFE),
        Op("post", cancel, cancel.text),
        Op("post", other, SAFE),
        Op("delete", other, ""),
    ]
    wants = expect(_Paths(), ops, [CT, MA])  # type: ignore[arg-type]
    assert wants[(MA, root.envelope)].cancelled
    assert not wants[(MA, cancel.envelope)].cancelled
    assert wants[(MA, other.envelope)].texts == frozenset()


def test_each_kind_of_difference_is_named() -> None:
    root = _item("1.1", SAFE)
    reply = _item("1.2", "seen again", root=root, broadcast=True)
    want_root = Want(item=root, texts=frozenset({SAFE}), cancelled=True)
    want_reply = Want(item=reply, texts=frozenset({"seen again"}))
    roots = {(MA, f"9{root.ts}"): root.envelope}
    assert _differences(want_root, [_copy(root, cancelled_text(SAFE))], MA, roots) == set()
    assert _differences(want_root, [_copy(root, SAFE)], MA, roots) == {"not_marked_cancelled"}
    assert _differences(want_root, [], MA, roots) == {"missing"}
    stale = _copy(root, cancelled_text("BOLO 1 (rev 0): blue Ford."))
    assert _differences(want_root, [stale], MA, roots) == {"text"}
    in_thread = _copy(reply, "seen again", thread=f"9{root.ts}", broadcast=True)
    assert _differences(want_reply, [in_thread], MA, roots) == set()
    assert _differences(want_reply, [in_thread._replace(broadcast=False)], MA, roots) == {
        "broadcast_not_sent_to_channel"
    }
    assert _differences(want_reply, [in_thread._replace(thread_ts="9.9")], MA, roots) == {
        "reply_in_wrong_thread"
    }
    orphan = _copy(reply, "seen again", context="A reply in a thread that was not shared")
    assert _differences(want_reply, [orphan], MA, roots) == {"reply_out_of_thread"}
    gone = Want(item=reply, texts=frozenset())
    assert _differences(gone, [in_thread], MA, roots) == {"withdrawn_still_shown"}


class _Emu:
    def __init__(self, copies: dict[str, list[RelayCopy]]) -> None:
        self.copies = copies

    def relay_copies(self, team: str, channel: str) -> list[RelayCopy]:
        return self.copies.get(team, [])


def _net(copies: dict[str, list[RelayCopy]]) -> SimpleNamespace:
    agencies = [SimpleNamespace(ori=o, team=o, channel=lambda topic: "C1") for o in (CT, MA, NY)]
    return SimpleNamespace(emu=_Emu(copies), agencies=agencies)


class _Partners(_Paths):
    """Every agency shows what every other writes; Eastfield withholds orphan replies."""

    def __init__(self) -> None:
        mark = {"cancellations": "mark", "orphan_replies": "post"}
        self.policies = {
            CT: SimpleNamespace(**mark),
            MA: SimpleNamespace(**mark),
            NY: SimpleNamespace(**(mark | {"orphan_replies": "withhold"})),
        }


def _partner_reply(root: Item, ts: str, text: str) -> Item:
    return Item(n=1, origin=MA, user="U2", ts=ts, envelope=f"{MA}.C2.{ts}", text=text, root=root)


def test_a_partners_reply_is_expected_under_the_origins_own_bolo() -> None:
    """Millbrook replies in its copy's thread: Havenport must show it in the thread of the
    officer's own BOLO (not a copy), Eastfield in its copy's thread."""
    root = _item("1.1", SAFE)
    reply = _partner_reply(root, "2.1", "That is J.B.")
    ops = [Op("post", root, SAFE), Op("post", reply, reply.text)]
    wants = expect(_Partners(), ops, [CT, MA, NY])  # type: ignore[arg-type]
    assert (MA, reply.envelope) not in wants  # the replying agency's own message
    at_origin = wants[(CT, reply.envelope)]
    assert at_origin.texts == {"That is J.B."}
    assert not at_origin.orphan_ok
    ny_root = _copy(root, SAFE)._replace(ts="7.1")
    copies = {
        CT: [_copy(reply, "That is J.B.", thread=root.ts)._replace(ts="8.1")],
        NY: [ny_root, _copy(reply, "That is J.B.", thread="7.1")._replace(ts="7.2")],
        MA: [_copy(root, SAFE)],
    }
    assert compare(_net(copies), wants)["pairs"] == 0  # type: ignore[arg-type]
    copies[CT] = [_copy(reply, "That is J.B.")._replace(ts="8.1")]  # top-level at the origin
    assert +compare(_net(copies), wants) == {"pairs": 1, "reply_out_of_thread": 1}  # type: ignore[arg-type]
    copies[CT] = [_copy(reply, "That is J.B.", thread="1.9")._replace(ts="8.1")]
    assert compare(_net(copies), wants)["reply_in_wrong_thread"] == 1  # type: ignore[arg-type]
    copies[CT] = [_copy(reply, "That is J.", thread=root.ts)._replace(ts="8.1")]
    assert compare(_net(copies), wants)["text"] == 1  # type: ignore[arg-type]
    copies[CT] = []
    assert compare(_net(copies), wants)["missing"] == 1  # type: ignore[arg-type]


def test_a_partners_reply_where_its_bolo_never_went_is_an_orphan_or_withheld() -> None:
    root = _item("1.1", UNSAFE)  # never shown anywhere
    reply = _partner_reply(root, "2.1", "Seen on Route 9.")
    ops = [Op("post", root, UNSAFE), Op("post", reply, reply.text)]
    wants = expect(_Partners(), ops, [CT, MA, NY])  # type: ignore[arg-type]
    assert wants[(NY, reply.envelope)].texts == frozenset()  # withheld, never a top-level post
    assert wants[(CT, reply.envelope)].texts == {"Seen on Route 9."}
    assert not wants[(CT, reply.envelope)].orphan_ok  # the origin always has its own BOLO
    # a BOLO deleted at the origin: the reply may come after it is gone
    root.deleted = True
    ops.append(Op("delete", root, ""))
    wants = expect(_Partners(), ops, [CT, MA, NY])  # type: ignore[arg-type]
    assert wants[(CT, reply.envelope)].orphan_ok


def test_an_orphan_reply_a_partner_withholds_may_be_absent() -> None:
    root = _item("1.1", SAFE)
    reply = _partner_reply(root, "2.1", "Seen on Route 9.")
    ops = [
        Op("post", root, SAFE),
        Op("post", reply, reply.text),
        Op("edit", root, UNSAFE),  # retracted for a while: the reply may come meanwhile
        Op("edit", root, SAFE),
    ]
    want = expect(_Partners(), ops, [CT, MA, NY])[(NY, reply.envelope)]  # type: ignore[arg-type]
    assert want.texts == {"Seen on Route 9."}
    assert want.absent_ok
    assert _differences(want, [], NY, {}) == set()
