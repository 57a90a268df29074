"""``federation.files`` in ``relay.yaml``: what the relay keeps of the photos partners push.

```yaml
federation:
  files:
    max_bytes: 10485760               # one file, at most (too_large, 413)
    partner_quota_bytes: 209715200    # held per partner, at most (quota_exceeded, 429)
    partner_quota_files: 5000         # held per partner, at most (quota_exceeded, 429)
    orphan_grace_seconds: 3600        # a file no envelope names is deleted after this
    sweep_interval_seconds: 60        # how often unneeded files are deleted
```
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from relay.core import defaults
from relay.core.policy.yamlnodes import Loc, Problems

__all__ = ["FilesConfig", "files_section"]

_KEYS: Final = {
    "max_bytes",
    "partner_quota_bytes",
    "partner_quota_files",
    "orphan_grace_seconds",
    "sweep_interval_seconds",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class FilesConfig:
    """Photos partners push (``federation.files``): size, quota and how long they are kept."""

    max_bytes: int = defaults.MAX_FILE_BYTES
    partner_quota_bytes: int = defaults.FILES_QUOTA_BYTES
    partner_quota_files: int = defaults.FILES_QUOTA_COUNT
    orphan_grace: float = defaults.FILES_ORPHAN_GRACE
    sweep_interval: float = defaults.FILES_SWEEP_INTERVAL


def files_section(loc: Loc | None, problems: Problems, line: int) -> FilesConfig:
    """``federation.files`` (absent: the defaults); problems reported at their lines."""
    if loc is None or loc.value is None:
        return FilesConfig()
    if not isinstance(loc.value, dict):
        problems.add(loc.line, "'files' must be a mapping")
        return FilesConfig()
    m: dict[str, Loc] = loc.value
    for key, value in m.items():
        if key not in _KEYS:
            problems.add(value.line, f"unknown key '{key}' in files")
    d = FilesConfig()

    def number(key: str, default: float, least: float) -> Any:
        got = m.get(key)
        if got is None or got.value is None:
            return default
        value = got.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.add(got.line, f"'{key}' has the wrong type")
            return default
        if value < least:
            problems.add(got.line, f"'{key}' must be at least {least:g}")
            return default
        return value

    got = FilesConfig(
        max_bytes=int(number("max_bytes", d.max_bytes, 1)),
        partner_quota_bytes=int(number("partner_quota_bytes", d.partner_quota_bytes, 1)),
        partner_quota_files=int(number("partner_quota_files", d.partner_quota_files, 1)),
        # a push precedes the envelope naming it: the grace period covers that gap
        orphan_grace=float(number("orphan_grace_seconds", d.orphan_grace, 60)),
        sweep_interval=float(number("sweep_interval_seconds", d.sweep_interval, 1)),
    )
    if got.partner_quota_bytes < got.max_bytes:
        problems.add(loc.line, "files: partner_quota_bytes must be at least max_bytes")
    return got
