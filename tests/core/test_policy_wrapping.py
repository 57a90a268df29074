"""How a line's shape is read: where a line plainly carries on into the next."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from relay.core.policy.wrapping import plainly_carries

# What ``plainly_carries`` read with a regex before it was written without one.
CARRY = re.compile(
    r"(?:[,;:\-–—(/&+]|\b(?:and|or|but|the|a|an|of|to|in|on|at|with|for|by|from|is|was|are|"
    r"were|his|her|their|our|my|your|its|that|who|which|as|been|be|has|have|had|will|would|"
    r"can|could|not|than|into|onto|about|after|before|over|under|through|near|between|"
    r"de|la|el|los|las|del|que|y|en|"
    r"con|por|para|da|do|das|dos|e|em|no|na|um|uma|com))\s*$",
    re.IGNORECASE,
)


@settings(max_examples=400, deadline=None)
@given(
    head=st.text(alphabet="abdeilnorstAET _5é-,;:(/&+.!?'\"", max_size=14),
    word=st.sampled_from(["", "and", "The", "OF", "em", "uma", "between", "x", "de"]),
    space=st.sampled_from(["", " ", "  \t"]),
)
def test_a_line_carries_on_where_the_carry_pattern_says(head: str, word: str, space: str) -> None:
    line = head + word + space
    assert plainly_carries(line) == (CARRY.search(line.rstrip()[-12:]) is not None)
