"""Routing: origin fan-out, relay re-forwarding, onward permission, hop limit, loops."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from relay.core.envelope import (
    Author,
    EnvelopeId,
    EnvelopeKind,
    SignedEnvelope,
    VerifiedEnvelope,
    add_hop,
    build_envelope,
    sign_origin,
    verify_envelope,
)
from relay.core.keys import KeyId, Keyring, PinnedKey
from relay.core.model import AgencyId
from relay.core.policy.load import load_policy
from relay.core.policy.model import Policy
from relay.core.reasons import Reason
from relay.core.routing import (
    DEFAULT_HOP_LIMIT,
    RelayPlan,
    onward_allowed,
    origin_targets,
    plan_relay,
    relay_targets,
)
from relay.core.signing import public_key_bytes

CT, NYFC, MA, RI, VT = (
    AgencyId(o) for o in ("CT9990100", "NY0300000", "MA9990200", "RI9990400", "VT0010000")
)
TODAY = date(2026, 11, 26)
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
AFTER_VT_EXPIRES = datetime(2027, 1, 2, 9, 0, tzinfo=UTC)


def partner(
    ori: str,
    *,
    share: list[str],
    accept: list[str],
    onward: bool = False,
    expires: str = "2028-01-01",
    kind: str = "law_enforcement",
) -> str:
    return (
        f"  - {{ori: {ori}, name: Agency {ori}, state: {ori[:2]}, kind: {kind},\n"
        f"     agreement: {{id: IEA-{ori}, expires: {expires}}},\n"
        f"     share: [{', '.join(share)}], accept: [{', '.join(accept)}],\n"
        f"     redisseminate: {str(onward).lower()}}}\n"
    )


def policy(ori: str, *partners: str) -> Policy:
    text = (
        f"agency: {{ori: {ori}, name: Agency {ori}, state: {ori[:2]}}}\n"
        "topics: [bolo, narcotics]\n"
        "partners:\n" + "".join(partners) + "patterns: {p: {regex: ['zzz']}}\n"
        "detectors: [{id: d.one, action: strip, when: [p]}]\n"
    )
    return load_policy(text, source="t.yaml", today=TODAY)


# Connecticut shares BOLOs with the NY fusion center (which may pass them on) and Rhode Island
# (which may not); Vermont's agreement runs out at the end of 2026.
CT_POLICY = policy(
    CT,
    partner(NYFC, share=["bolo"], accept=["bolo"], onward=True, kind="fusion_center"),
    partner(RI, share=["bolo"], accept=["bolo"]),
    partner(VT, share=["bolo", "narcotics"], accept=["bolo"], expires="2026-12-31"),
    partner(MA, share=["narcotics"], accept=["bolo"]),
)
# The fusion center accepts BOLOs from CT and passes them to MA and RI; from VT it accepts only
# narcotics; RI's agreement with it runs out at the end of 2026.
NY_POLICY = policy(
    NYFC,
    partner(CT, share=["bolo"], accept=["bolo"]),
    partner(MA, share=["bolo"], accept=["bolo"]),
    partner(RI, share=["bolo"], accept=["bolo"], onward=True, expires="2026-12-31"),
    partner(VT, share=["bolo"], accept=["narcotics"]),
)
MA_POLICY = policy(
    MA,
    partner(NYFC, share=["bolo"], accept=["bolo"]),
    partner(VT, share=["bolo"], accept=["bolo"]),
)
RI_POLICY = policy(
    RI,
    partner(CT, share=["bolo"], accept=["bolo"]),
    partner(NYFC, share=["bolo"], accept=["bolo"]),
    partner(VT, share=["bolo"], accept=["bolo"]),
)


def plan(
    pol: Policy = NY_POLICY,
    *,
    own: AgencyId = NYFC,
    topic: str = "bolo",
    sender: AgencyId = CT,
    path: tuple[AgencyId, ...] = (CT, NYFC),
    hops: int = 0,
    onward: bool = True,
    hop_limit: int = DEFAULT_HOP_LIMIT,
    now: datetime = NOW,
) -> RelayPlan:
    return plan_relay(
        pol, own=own, topic=topic, sender=sender, path=path, hops=hops, onward=onward,
        hop_limit=hop_limit, now=now,
    )  # fmt: skip


# --------------------------------------------------------------------------- origin


def test_origin_sends_to_partners_sharing_the_topic_in_policy_order():
    assert origin_targets(CT_POLICY, "bolo", now=NOW) == (NYFC, RI, VT)
    assert origin_targets(CT_POLICY, "narcotics", now=NOW) == (VT, MA)
    assert origin_targets(CT_POLICY, "weather", now=NOW) == ()


def test_origin_skips_a_partner_whose_agreement_has_expired():
    last_day = datetime(2026, 12, 31, 23, 59, tzinfo=UTC)
    assert origin_targets(CT_POLICY, "bolo", now=last_day) == (NYFC, RI, VT)
    assert origin_targets(CT_POLICY, "bolo", now=AFTER_VT_EXPIRES) == (NYFC, RI)


def test_onward_is_the_partners_redisseminate():
    assert onward_allowed(CT_POLICY, CT_POLICY.partners[NYFC]) is True
    assert onward_allowed(CT_POLICY, CT_POLICY.partners[RI]) is False


def test_onward_for_a_partner_entry_of_another_policy_is_false():
    """NY's entry for RI says redisseminate; CT's policy has its own RI entry, which does not."""
    assert onward_allowed(NY_POLICY, NY_POLICY.partners[RI]) is True
    assert onward_allowed(CT_POLICY, NY_POLICY.partners[RI]) is False


# --------------------------------------------------------------------------- relay


def test_relay_passes_on_to_partners_sharing_the_topic():
    assert plan() == RelayPlan(targets=(MA, RI, VT), held=None)
    assert relay_targets(
        NY_POLICY, own=NYFC, topic="bolo", sender=CT, path=(CT, NYFC), hops=0, onward=True,
        now=NOW,
    ) == (MA, RI, VT)  # fmt: skip


def test_relay_never_sends_back_to_an_agency_on_the_path():
    """RI and MA have already had it (CT -> RI -> MA -> NY): only VT is left."""
    got = plan(sender=MA, path=(CT, RI, MA, NYFC), hops=2)
    assert got.targets == (VT,)


def test_relay_never_sends_back_to_the_sender_or_itself_even_if_path_omits_them():
    assert plan(path=()).targets == (MA, RI, VT)
    assert CT not in plan(path=()).targets


def test_relay_with_no_partner_left_is_not_held():
    got = plan(sender=MA, path=(CT, RI, VT, MA, NYFC), hops=3)
    assert got == RelayPlan(targets=(), held=None)


def test_relay_holds_what_the_last_signer_said_not_to_pass_on():
    assert plan(onward=False) == RelayPlan(targets=(), held=Reason.ONWARD_FORBIDDEN)


def test_relay_holds_a_topic_it_does_not_accept_from_the_sender():
    """NY accepts only narcotics from VT, so a BOLO from VT goes no further."""
    got = plan(sender=VT, path=(VT, NYFC))
    assert got == RelayPlan(targets=(), held=Reason.TOPIC_NOT_ACCEPTED)


def test_relay_holds_what_an_unknown_sender_sent():
    got = plan(sender=AgencyId("NH0050000"), path=(AgencyId("NH0050000"), NYFC))
    assert got == RelayPlan(targets=(), held=Reason.PARTNER_UNKNOWN)


def test_relay_holds_when_its_agreement_with_the_sender_has_expired():
    got = plan(sender=RI, path=(RI, NYFC), now=AFTER_VT_EXPIRES)
    assert got == RelayPlan(targets=(), held=Reason.AGREEMENT_EXPIRED)


def test_relay_skips_a_partner_whose_agreement_has_expired():
    assert plan(now=AFTER_VT_EXPIRES).targets == (MA, VT)


@pytest.mark.parametrize(
    ("hops", "hop_limit", "held"),
    [
        (0, DEFAULT_HOP_LIMIT, None),
        (DEFAULT_HOP_LIMIT - 1, DEFAULT_HOP_LIMIT, None),  # ours is the limit-th hop
        (DEFAULT_HOP_LIMIT, DEFAULT_HOP_LIMIT, Reason.HOP_LIMIT),
        (0, 1, None),
        (1, 1, Reason.HOP_LIMIT),
        (0, 0, Reason.HOP_LIMIT),
    ],
)
def test_relay_stops_where_one_more_hop_would_pass_the_limit(hops, hop_limit, held):
    got = plan(path=(CT, NYFC), hops=hops, hop_limit=hop_limit)
    assert got.held is held
    assert bool(got.targets) is (held is None)


def test_default_hop_limit_is_four():
    assert DEFAULT_HOP_LIMIT == 4


def test_negative_hops_are_a_programming_error():
    with pytest.raises(ValueError, match="negative"):
        plan(hops=-1)


# --------------------------------------------------------------------------- end to end

KEYS = {a: Ed25519PrivateKey.from_private_bytes(bytes([i]) * 32) for i, a in
        enumerate((CT, NYFC, MA, RI, VT), start=1)}  # fmt: skip
RING = Keyring.of(
    PinnedKey(
        kid=KeyId(f"{a}#k1"),
        agency=a,
        public_key=public_key_bytes(k),
        not_before=NOW - timedelta(days=1),
    )
    for a, k in KEYS.items()
)


def originate(to: AgencyId) -> SignedEnvelope:
    unsigned = build_envelope(
        issuer=CT,
        audience=to,
        onward=onward_allowed(CT_POLICY, CT_POLICY.partners[to]),
        envelope_id=EnvelopeId("bolo-2026-11-26-0001"),
        issued_at=NOW,
        expires_at=NOW + timedelta(days=1),
        kind=EnvelopeKind.POST,
        topic="bolo",
        marking="LES",
        author=Author(name="Det. A. Smith", agency=CT),
        lines=("BOLO: white 2012 sedan", "partial plate 7XK"),
        salts=("salt-0000-0123456789abcdef", "salt-0001-0123456789abcdef"),
    )
    return sign_origin(unsigned, key=KEYS[CT], kid=f"{CT}#k1")


def receive(env: SignedEnvelope, me: AgencyId, pol: Policy) -> tuple[VerifiedEnvelope, RelayPlan]:
    """Verify as ``me`` and work out where ``me`` would pass it on."""
    got = verify_envelope(env.to_wire(), RING, now=NOW + timedelta(minutes=5), receiver=me)
    return got, plan_relay(
        pol, own=me, topic=got.topic, sender=got.last_signer, path=got.path,
        hops=len(got.hops), onward=got.onward, now=NOW,
    )  # fmt: skip


def forward(got: VerifiedEnvelope, me: AgencyId, pol: Policy, to: AgencyId) -> SignedEnvelope:
    return add_hop(
        got.envelope,
        key=KEYS[me],
        kid=f"{me}#k1",
        from_agency=got.last_signer,
        to_agency=to,
        at=NOW + timedelta(minutes=1),
        policy=f"{me}/outbound@v1",
        onward=onward_allowed(pol, pol.partners[to]),
    )


def test_fusion_center_passes_a_ct_bolo_on_to_ma_which_may_not_pass_it_further():
    """CT -> NY fusion center -> MA: NY may pass it on (CT said so), MA may not (NY said so)."""
    assert origin_targets(CT_POLICY, "bolo", now=NOW)[0] == NYFC
    at_ny, ny_plan = receive(originate(NYFC), NYFC, NY_POLICY)
    assert (at_ny.audience, at_ny.onward, at_ny.path) == (NYFC, True, (CT, NYFC))
    assert ny_plan.targets == (MA, RI, VT)

    at_ma, ma_plan = receive(forward(at_ny, NYFC, NY_POLICY, MA), MA, MA_POLICY)
    assert at_ma.path == (CT, NYFC, MA)
    assert [(h.signer, h.to_agency, h.onward) for h in at_ma.hops] == [(NYFC, MA, False)]
    assert at_ma.onward is False
    assert ma_plan == RelayPlan(targets=(), held=Reason.ONWARD_FORBIDDEN)


def test_direct_partner_without_redisseminate_passes_nothing_on():
    at_ri, ri_plan = receive(originate(RI), RI, RI_POLICY)
    assert at_ri.onward is False
    assert ri_plan == RelayPlan(targets=(), held=Reason.ONWARD_FORBIDDEN)


def test_the_same_bolo_over_two_paths_carries_one_envelope_id():
    """RI gets CT's BOLO directly and via the fusion center: one id, so the store posts once.

    The copies differ in what RI may do next: CT said no onward, NY (whose policy lets RI
    redisseminate) said yes. Which applies is whichever copy the store keeps.
    """
    direct, direct_plan = receive(originate(RI), RI, RI_POLICY)
    at_ny, _ = receive(originate(NYFC), NYFC, NY_POLICY)
    via_ny, via_plan = receive(forward(at_ny, NYFC, NY_POLICY, RI), RI, RI_POLICY)
    assert direct.envelope_id == via_ny.envelope_id
    assert (direct.path, via_ny.path) == ((CT, RI), (CT, NYFC, RI))
    assert direct_plan.held is Reason.ONWARD_FORBIDDEN
    assert via_plan == RelayPlan(targets=(VT,), held=None)
