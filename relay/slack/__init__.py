"""Slack at both ends: receiving events, posting messages."""
