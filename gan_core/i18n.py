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
