"""The expectation ``relay chaos`` holds each partner's view against, without a network:
what officers did -> each partner's expected view -> the kinds of difference it finds."""

from __future__ import annotations

from types import SimpleNamespace

from relay.commands.chaos_traffic import Item, Op
from relay.commands.chaos_views import Want, _differences, cancelled_text, expect
from relay.lab.emulator.users import RelayCopy

CT, MA = "CT9990100", "MA9990200"
SAFE, UNSAFE = "BOLO 1 (rev 0): red Ford.", "BOLO 1 (rev 1): red Ford. (S//NF) secret."


class _Paths:
    """Millbrook shows CT's text as it is, and nothing marked (S//NF)."""

    def __init__(self) -> None:
        self.policies = {MA: SimpleNamespace(cancellations="mark")}

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
