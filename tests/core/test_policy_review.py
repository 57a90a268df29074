"""The review views (issue 16): what a supervisor may release of what the policy stopped."""

from __future__ import annotations

from pathlib import Path

import pytest

from relay.commands.policy import read_policy
from relay.core.model import SlackMessage
from relay.core.policy.engine import evaluate_outbound
from relay.core.policy.load import PolicyLoadError
from relay.core.policy.model import Action, Policy
from relay.core.policy.review import ReviewMode, review_case, variant
from relay.core.slack_parse import parse_event
from tests.conftest import NOW

PARTNER = "MA9990200"


def _msg(text: str) -> SlackMessage:
    return parse_event(
        {
            "type": "message",
            "channel": "C0BOLO0001",
            "user": "U0OFFICER1",
            "text": text,
            "ts": "1764000000.000100",
        }
    )


def _case(policy: Policy, text: str, *, redactions: bool = False):  # type: ignore[no-untyped-def]
    message = _msg(text)
    current = evaluate_outbound(message, policy, PARTNER, "bolo", now=NOW)
    return current, review_case(
        message, policy, PARTNER, "bolo", current, now=NOW, redactions=redactions
    )


BOLO = (
    "BOLO: white 2014 Honda Accord CT plate AB12345, wanted for the armed robbery at the "
    "Shell on Main St last night. Suspect is a white male, 30s, red hoodie."
)


def test_a_caveat_block_offers_both_views(baseline: Policy) -> None:
    text = BOLO + "\nDo not forward this to other agencies until the DA signs off."
    current, case = _case(baseline, text)
    assert current.action is Action.BLOCK
    assert case is not None
    assert case.flagged == ("caveat.dissemination",)
    assert case.releasable
    without = case.views[ReviewMode.WITHOUT_FLAGGED]
    assert without.message is not None
    assert "Do not forward" not in without.message.text
    assert "Honda Accord" in without.message.text
    written = case.views[ReviewMode.AS_WRITTEN]
    assert written.message is not None
    assert "Do not forward" in written.message.text


def test_a_never_reviewable_rule_beside_a_reviewable_one_cannot_be_released(
    baseline: Policy,
) -> None:
    text = BOLO + "\nDo not forward outside the unit.\nWith him: Tyler Brooks, who is 15."
    current, case = _case(baseline, text)
    assert current.action is Action.BLOCK
    assert {r.rule for r in current.reasons} >= {"caveat.dissemination"}
    assert case is not None
    assert not case.releasable
    assert case.views == {}
    # a spill is judged before any detector: only its rule, nothing to review
    current, case = _case(baseline, "(S//NF) " + BOLO + "\nDo not forward outside the unit.")
    assert current.action is Action.BLOCK
    assert case is None


def test_never_reviewable_units_go_in_every_view(baseline: Policy) -> None:
    text = (
        BOLO + "\nDon't share this outside the squad.\n"
        "Our CI Marcus Dell put us on to him; Dell says he sleeps at his sister's."
    )
    _, case = _case(baseline, text)
    assert case is not None
    assert case.releasable
    for decision in case.views.values():
        assert decision.message is not None
        assert "Dell" not in decision.message.text
        assert "Honda Accord" in decision.message.text


def test_nothing_to_review_in_a_clean_message(baseline: Policy) -> None:
    assert _case(baseline, BOLO)[1] is None
    _, case = _case(baseline, BOLO + "\nSECRET//NOFORN")
    assert (case is not None and not case.releasable) or case is None


def test_redactions_are_reviewed_only_when_asked(baseline: Policy) -> None:
    text = BOLO + "\nHe is diabetic and carries insulin in the glovebox."
    current, case = _case(baseline, text)
    assert current.action is Action.REDACT
    assert case is None
    _, case = _case(baseline, text, redactions=True)
    assert case is not None
    assert case.flagged == ("medical.detail",)
    written = case.views[ReviewMode.AS_WRITTEN]
    assert written.message is not None
    assert "insulin" in written.message.text
    assert case.views[ReviewMode.WITHOUT_FLAGGED] is case.current


def test_variants_are_built_once(baseline: Policy) -> None:
    assert variant(baseline, ReviewMode.AS_WRITTEN) is variant(baseline, ReviewMode.AS_WRITTEN)


@pytest.mark.parametrize(
    "rule",
    [
        "classified.x",
        "chri.y",
        "informant.z",
        "undercover.q",
        "juvenile.w",
        "sex_victim.v",
        "protected.u",
        "sealed.t",
    ],
)
def test_a_policy_may_not_make_protected_families_reviewable(tmp_path: Path, rule: str) -> None:
    base = Path(__file__).resolve().parents[2] / "policies" / "baseline.yaml"
    path = tmp_path / "agency.yaml"
    path.write_text(
        f"extends: {base}\n"
        "detectors:\n"
        f"  - id: {rule}\n"
        "    action: block\n"
        "    reviewable: true\n"
        "    when: [ssn]\n",
        encoding="utf-8",
    )
    with pytest.raises(PolicyLoadError) as err:
        read_policy(str(path), NOW.date())
    lines = "\n".join(err.value.lines())
    assert "can never be reviewable" in lines
    assert ":5:" in lines


@pytest.mark.parametrize(
    ("rule", "when"),
    [
        ("bolo.youth_named", "[[juvenile_term, juvenile_es_pt]]\n    context: [juvenile_name]"),
        ("records.ncic", "[ncic_response]"),
        ("bolo.named_source", "[source_token]"),
        ("bolo.victim", "[victim_identity]\n    context: [sex_offense]"),
    ],
)
def test_a_protected_rule_renamed_is_still_never_reviewable(
    tmp_path: Path, rule: str, when: str
) -> None:
    base = Path(__file__).resolve().parents[2] / "policies" / "baseline.yaml"
    path = tmp_path / "agency.yaml"
    path.write_text(
        f"extends: {base}\n"
        "detectors:\n"
        f"  - id: {rule}\n"
        "    action: block\n"
        "    reviewable: true\n"
        f"    when: {when}\n",
        encoding="utf-8",
    )
    with pytest.raises(PolicyLoadError) as err:
        read_policy(str(path), NOW.date())
    assert "can never be reviewable" in "\n".join(err.value.lines())
