"""User-facing strings: one JSON catalog per language in assets/i18n/.

Pages and figures look strings up by key; `tests/test_i18n.py` checks that every catalog has
the same keys and the same {placeholders}.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

CATALOG_DIR = Path(__file__).resolve().parent.parent / "assets" / "i18n"
LANGUAGES = {"en": "English", "id": "Bahasa Indonesia"}
DEFAULT = "en"
BCP47 = {"en": "en-US", "id": "id-ID"}   # what a browser's toLocaleString takes


@functools.lru_cache(maxsize=None)
def catalog(lang: str) -> dict:
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}; choose one of {sorted(LANGUAGES)}")
    with open(CATALOG_DIR / f"{lang}.json", encoding="utf-8") as f:
        return json.load(f)


def t(key: str, lang: str = DEFAULT, **fmt) -> str:
    text = catalog(lang)[key]
    return text.format(**fmt) if fmt else text


def section(prefix: str, lang: str = DEFAULT) -> dict:
    """The keys under `prefix`, with the prefix removed (e.g. a figure's labels)."""
    return {k[len(prefix):]: v for k, v in catalog(lang).items() if k.startswith(prefix)}


def percentile(value: float, lang: str = DEFAULT) -> str:
    """A percentile rank as the catalogs' {pct} wants it: whole, from 1 to 99 (a rank of 0 or
    100 reads as nonsense), as an English ordinal ("33rd") or a plain number ("ke-33")."""
    n = min(99, max(1, round(value)))
    if lang != "en":
        return str(n)
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def number(value, lang: str = DEFAULT) -> str:
    """A number in the language's own format: English 1,000,000 and 0.0002; Indonesian
    1.000.000 and 0,0002 (a full stop groups thousands, a comma marks decimals)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if float(value).is_integer() and abs(value) < 1e15:
        text = f"{int(value):,}"
    else:
        text = f"{value:,.6g}" if abs(value) >= 1e-4 else f"{value:.2e}"
    if lang == "id":
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text
