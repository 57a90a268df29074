"""The policy file relay.yaml names, checked by ``relay config check``: it loads (its own
``file:line`` problems), it is this agency's, and its partners and topics match relay.yaml's;
and the candidate policy (``policy_candidate``), if named: it loads and is this agency's."""

from __future__ import annotations

import datetime as dt

from relay.commands.config.report import Lines, Report
from relay.config import RelayConfig
from relay.core.policy.load import PolicyLoadError
from relay.core.policy.model import Policy

__all__ = ["check_candidate", "check_policy"]


def check_policy(
    config: RelayConfig, lines: Lines, report: Report, today: dt.date
) -> Policy | None:
    from relay.commands.policy import read_policy

    src, at = config.source, lines.at("policy")
    if not config.policy.is_file():
        report.error(src, at, f"policy {config.policy}: file not found")
        return None
    try:
        policy = read_policy(str(config.policy), today)
    except PolicyLoadError as exc:
        for line, message in exc.problems:
            report.error(exc.source or str(config.policy), line, message)
        return None
    if policy.ori != config.agency:
        report.error(src, at, f"policy {config.policy} is for {policy.ori}, not {config.agency}")
    # a policy partner heard from only through a hop has its keys under origins:, no link
    for ori in sorted(set(policy.partners) - set(config.partners) - set(config.origins)):
        report.warning(
            src, lines.at("partners"), f"policy partner {ori} has no entry under partners:"
        )
    for ori in sorted(set(config.partners) - set(policy.partners)):
        report.warning(
            src, lines.partner_at(ori, "ori"), f"partner {ori} is not a partner in the policy"
        )
    if config.slack is not None:
        mapped = set(config.slack.channels.values()) | {
            t for t, routes in config.slack.partner_channels.items() if routes
        }
        for ori, partner in sorted(policy.partners.items()):
            for topic in sorted(partner.accept - mapped):
                report.error(
                    src,
                    lines.at("slack", "channels"),
                    f"topic '{topic}' is accepted from partner {ori} but no channel is mapped "
                    "to it: its envelopes would be refused (topic_not_mapped)",
                )
        for topic in sorted(set(config.slack.partner_channels) - policy.topics):
            report.error(
                src,
                lines.at("slack", "partner_channels"),
                f"partner_channels: '{topic}' is not a topic of the policy",
            )
        for topic, routes in sorted(config.slack.partner_channels.items()):
            for ori in sorted(set(routes) - {"*"} - set(policy.partners)):
                report.error(
                    src,
                    lines.at("slack", "partner_channels", topic),
                    f"partner_channels '{topic}': {ori} is not a partner in the policy",
                )
        for cid, topic in sorted(config.slack.channels.items()):
            if topic not in policy.topics:
                report.warning(
                    src,
                    lines.at("slack", "channels", cid),
                    f"channel {cid}: topic '{topic}' is not a topic of the policy",
                )
    return policy


def check_candidate(
    config: RelayConfig, lines: Lines, report: Report, today: dt.date
) -> Policy | None:
    """``policy_candidate``: judged beside the policy in force, so it must load as one."""
    from relay.commands.policy import read_policy

    path = config.policy_candidate
    if path is None:
        return None
    src, at = config.source, lines.at("policy_candidate")
    if not path.is_file():
        report.error(src, at, f"policy_candidate {path}: file not found")
        return None
    try:
        candidate = read_policy(str(path), today)
    except PolicyLoadError as exc:
        for line, message in exc.problems:
            report.error(exc.source or str(path), line, message)
        return None
    if candidate.ori != config.agency:
        report.error(
            src, at, f"policy_candidate {path} is for {candidate.ori}, not {config.agency}"
        )
    return candidate
