"""The review card and the reason modal (issue 16), as Block Kit built from data: plain
functions, no I/O. The card is posted in the agency's own private review channel, so it shows
the original text and each partner's view with the removed units struck through.

Block Kit limits kept: section text at most 3,000 characters, a message at most 50 blocks,
button text at most 75 characters, a modal title at most 24.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from relay.core.mrkdwn import escape
from relay.core.policy.explain import UnitView
from relay.core.policy.review import ReviewMode

__all__ = [
    "CALLBACK",
    "KEEP",
    "RELEASE",
    "PartnerView",
    "card_blocks",
    "decided_blocks",
    "modal_view",
    "read_submission",
]

RELEASE: Final = "review.release."  # + a ReviewMode: opens the reason modal
KEEP: Final = "review.keep"
CALLBACK: Final = "review.release"  # the modal's callback_id
_SECTION: Final = 2900  # characters of a section's text kept (Slack's limit is 3,000)
_PARTNERS: Final = 20  # partner sections at most (blocks: 50 a message)
_LABELS: Final = {
    ReviewMode.WITHOUT_FLAGGED: "Release without the flagged parts",
    ReviewMode.AS_WRITTEN: "Release as written",
}
_OUTCOME: Final = {
    "released": "Released",
    "kept": "Kept blocked",
    "expired": "Expired unreviewed",
    "superseded": "Closed: the message was edited or deleted after this card was posted",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class PartnerView:
    """One partner on the card: the decision, the rule ids, the view offered to release."""

    partner: str  # ORI
    name: str
    action: str  # the policy's decision: "block" or "redact"
    rules: tuple[str, ...]
    modes: tuple[ReviewMode, ...]  # what a reviewer may release to this partner
    units: tuple[UnitView, ...]  # the partner's view without the flagged parts


def _cut(text: str, limit: int = _SECTION) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _quote(text: str) -> str:
    return "\n".join("> " + line for line in text.splitlines() or [""])


def _view_text(units: Sequence[UnitView]) -> str:
    parts = []
    for u in units:
        text = escape(u.text.replace("\n", " ").strip())
        if u.status in ("removed", "not released"):
            rules = ", ".join(u.rules) or u.status
            parts.append(f"~{text}~ _[{escape(rules)}]_")
        else:
            parts.append(text)
    return "\n".join(parts) or "_(nothing)_"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text)}}


def card_blocks(
    *,
    review_id: str,
    author: str,
    channel: str,
    ts: str,
    text: str,
    partners: Sequence[PartnerView],
    seen: str = "",
) -> list[dict[str, Any]]:
    """The open card: who, where, when, the text, each partner's decision and view, and the
    buttons (a release button only for a mode some partner may get)."""
    when = int(float(ts)) if ts.replace(".", "", 1).isdigit() else 0
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Held for review"}},
        _section(
            f"<@{author}> in <#{channel}>, <!date^{when}^{{date_short_pretty}} {{time}}|{ts}>"
        ),
        _section(_quote(escape(text)) if text.strip() else "_(no text)_"),
        {"type": "divider"},
    ]
    for p in partners[:_PARTNERS]:
        decided = "not shared" if p.action == "block" else "shared with parts removed"
        rules = ", ".join(f"`{r}`" for r in p.rules)
        offer = ", ".join(_LABELS[m].lower() for m in p.modes) or "cannot be released"
        blocks.append(_section(f"*{escape(p.name)}* ({p.partner}): {decided} ({rules}); {offer}"))
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": _cut(_view_text(p.units))}],
            }
        )
    more = len(partners) - _PARTNERS
    if more > 0:
        blocks.append(_section(f"_… and {more} more partner(s), judged the same way._"))
    # the button carries what the card showed: a release of a post edited since is refused
    value = f"{review_id} {seen[:16]}" if seen else review_id
    modes = [m for m in ReviewMode if any(m in p.modes for p in partners)]
    buttons: list[dict[str, Any]] = [
        {
            "type": "button",
            "action_id": RELEASE + m.value,
            "text": {"type": "plain_text", "text": _LABELS[m]},
            "value": value,
            **({"style": "primary"} if m is ReviewMode.WITHOUT_FLAGGED else {}),
        }
        for m in modes
    ]
    buttons.append(
        {
            "type": "button",
            "action_id": KEEP,
            "text": {"type": "plain_text", "text": "Keep blocked"},
            "value": value,
            "style": "danger",
        }
    )
    blocks.append({"type": "actions", "block_id": "review", "elements": buttons})
    return blocks


def decided_blocks(
    open_blocks: Sequence[Mapping[str, Any]],
    *,
    outcome: str,
    by: str = "",
    mode: str = "",
    reason: str = "",
    comment: str = "",
) -> list[dict[str, Any]]:
    """The card after the decision: the buttons replaced by what was decided and by whom."""
    kept = [dict(b) for b in open_blocks if b.get("type") != "actions"]
    said = _OUTCOME.get(outcome, outcome)
    if outcome == "released" and mode:
        said = _LABELS.get(ReviewMode(mode), said) if mode in set(ReviewMode) else said
        said = said.replace("Release", "Released", 1)
    if by:
        said += f" by <@{by}>"
    if reason:
        said += f" (reason: `{reason}`)"
    kept.append(_section(f"*{said}*"))
    if comment:
        kept.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(escape(comment))}]}
        )
    return kept


def modal_view(
    *,
    review_id: str,
    mode: ReviewMode,
    reasons: Sequence[str],
    partners: Sequence[str],
    seen: str = "",
) -> dict[str, Any]:
    """The reason modal a release button opens (``views.open`` with the click's trigger)."""
    options = [
        {"text": {"type": "plain_text", "text": code.replace("_", " ")}, "value": code}
        for code in reasons
    ]
    return {
        "type": "modal",
        "callback_id": CALLBACK,
        "private_metadata": json.dumps({"review": review_id, "mode": mode.value, "seen": seen}),
        "title": {"type": "plain_text", "text": "Release to partners"},
        "submit": {"type": "plain_text", "text": "Release"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            _section(
                f"*{_LABELS[mode]}* to {escape(', '.join(partners)) or 'no partner'}. "
                "Your decision, the reason code and the policy version go in the "
                "dissemination ledger; the comment stays on the card in this workspace."
            ),
            {
                "type": "input",
                "block_id": "reason",
                "label": {"type": "plain_text", "text": "Reason"},
                "element": {"type": "static_select", "action_id": "code", "options": options},
            },
            {
                "type": "input",
                "block_id": "comment",
                "optional": True,
                "label": {"type": "plain_text", "text": "Comment (stays on the card)"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "text",
                    "multiline": True,
                    "max_length": 500,
                },
            },
        ],
    }


def read_submission(view: Mapping[str, Any]) -> tuple[str, str, str, str, str] | None:
    """(review id, mode, reason code, comment, the card's digest of the post) of a submitted
    reason modal; None when it is not one of ours or is malformed."""
    if view.get("callback_id") != CALLBACK:
        return None
    try:
        meta = json.loads(str(view.get("private_metadata") or ""))
        values = view["state"]["values"]
        code = values["reason"]["code"]["selected_option"]["value"]
        comment = (values.get("comment") or {}).get("text", {}).get("value") or ""
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if not isinstance(meta, dict):
        return None
    review, mode, seen = meta.get("review"), meta.get("mode"), meta.get("seen", "")
    if not all(isinstance(v, str) for v in (review, mode, code, comment, seen)):
        return None
    return str(review), str(mode), str(code), str(comment)[:500], str(seen)
