"""Portion marks anywhere a portion opens or closes, and matches read in the message's
context (list letters, quoted words, a caveat over two chat lines)."""

from __future__ import annotations

import re

from relay.core.policy.marking import line_portions
from relay.core.policy.spanning import across, in_context, is_list_letter, quoted_spans


def test_several_portions_on_one_line_are_all_read() -> None:
    line = "(U//LES) Wanted: X. (CUI//SP-CHRI) Arrests: 2009 (conv). (U//LES) Vehicle: red."
    found = line_portions(line)
    assert [m.family for _, _, m in found] == ["U", "CUI", "U"]
    assert found[1][2].specified == ("CHRI",)


def test_trailing_and_bracketed_marks_are_read() -> None:
    assert line_portions("Arrests: 2009 robbery (conv). (CUI//SP-CHRI)")
    assert line_portions("[CUI//SP-CHRI] Arrests: 2009 robbery (conv)")


def test_one_letter_after_a_single_slash_is_shorthand() -> None:
    assert line_portions("Tag: (U/K)") == []
    assert line_portions("Direction: (S/B) on Route 9") == []
    assert line_portions("(U/LES) Vehicle: red Civic")


def test_a_letter_after_its_predecessor_is_a_list_letter() -> None:
    assert is_list_letter("(C)", "(A) Suspect\n(B) Vehicle\n")
    assert not is_list_letter("(C)", "Vehicle: red Civic\n")
    assert not is_list_letter("(S//NF)", "(R) Route\n")


def test_quoted_words_of_someone_outside_the_agency() -> None:
    text = 'the victim got an email saying "do not forward this" from a Gmail account'
    (start, end), *_ = quoted_spans(text)
    assert text[start:end] == "do not forward this"
    spans = [(text.index("do not"), text.index("do not") + 14, "do not forward")]
    assert in_context([text], 0, spans, letters=False, quoted=True) == []
    said = 'suspect texted the victim "dont forward this or else"'
    assert [said[a:z] for a, z in quoted_spans(said)] == ["dont forward this or else"]
    assert quoted_spans('Caveat: "do not forward"') == []


def test_the_agencys_own_people_quoted_are_still_a_caveat() -> None:
    for text in (
        'Sarge said "do not forward this outside the unit"',
        'Lt. Ames wrote in the email: "keep this in-house"',
        'per the captain: "not for dissemination"',
    ):
        assert quoted_spans(text) == [], text


def test_a_match_over_two_chat_lines_counts_where_it_starts() -> None:
    pattern = re.compile(r"\bdont fwd this\b")
    found = across(pattern, ["red Civic on Main", "pls dont", "fwd this one"], quoted=False)
    assert [(block, span[2]) for block, span in found] == [(1, "dont fwd this")]


def test_shorthand_after_one_slash_is_description_not_a_mark() -> None:
    """ "c/o", "U/K" before ordinary words describe; a control after one slash still marks."""
    from relay.core.policy.marking import UNKNOWN_MARK, parse_portion

    assert not line_portions("Registered to D. Ruiz (c/o Ruiz Towing)")
    assert not line_portions("Plate: (U/K, partial 7GH)")
    assert parse_portion("(U/XYZ) text") == (UNKNOWN_MARK, 7)
    assert parse_portion("(u/les) text") is not None


def test_specified_categories_without_sp_and_other_separators() -> None:
    from relay.core.policy.marking import parse_portion

    for text in ("(CUI//CHRI) priors", "(CUI\\\\SP-INF) a source", "#2 (CUI|SP-INV) note"):
        found = parse_portion(text)
        assert found is not None
        assert found[0].specified


def test_role_labels_are_not_portion_marks() -> None:
    before = "(V) Ray's Auto Body reports a break-in.\n(W) A neighbor saw a W/M.\n"
    assert is_list_letter("(S)", before)
    assert not is_list_letter("(S)", "Per the JTTF liaison, ")


def test_tearline_with_a_prefix_and_a_releasability_phrase() -> None:
    from relay.core.policy.marking import is_tearline

    assert is_tearline("-- BEGIN TEARLINE --")
    assert is_tearline("TEARLINE - RELEASABLE TO STATE AND LOCAL LAW ENFORCEMENT")
    assert not is_tearline("Tearline photos are attached below from the scene")
