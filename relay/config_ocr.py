"""``ocr`` in ``relay.yaml``: how the relay reads the text in photos (issue 17, docs/ocr.md).

```yaml
ocr:
  workers: 1             # processes reading photos at once
  budget_seconds: 20     # one photo, at most: past it the photo is withheld (ocr_timeout)
  cache_entries: 256     # photos' results kept by content hash (an edit is not read again)
```
"""

from __future__ import annotations

from typing import Final

from relay.core.policy.yamlnodes import Loc, Problems
from relay.ocr.reader import OcrSettings

__all__ = ["ocr_section"]

_KEYS: Final = {"workers": 1, "budget_seconds": 1, "cache_entries": 0}


def ocr_section(loc: Loc | None, problems: Problems) -> OcrSettings:
    """``ocr`` (absent: the defaults); problems reported at their lines."""
    d = OcrSettings()
    if loc is None or loc.value is None:
        return d
    if not isinstance(loc.value, dict):
        problems.add(loc.line, "'ocr' must be a mapping")
        return d
    m: dict[str, Loc] = loc.value
    got: dict[str, float] = {}
    for key, value in m.items():
        if key not in _KEYS:
            problems.add(value.line, f"unknown key '{key}' in ocr")
            continue
        v = value.value
        if isinstance(v, bool) or not isinstance(v, int | float):
            problems.add(value.line, f"'{key}' has the wrong type")
        elif v < _KEYS[key]:
            problems.add(value.line, f"'{key}' must be at least {_KEYS[key]}")
        else:
            got[key] = v
    return OcrSettings(
        workers=int(got.get("workers", d.workers)),
        budget=float(got.get("budget_seconds", d.budget)),
        cache=int(got.get("cache_entries", d.cache)),
    )
