"""Federated relay for law-enforcement intelligence sharing between Slack workspaces."""

__all__ = ["__version__"]

__version__ = "0.1.0"
