"""Both catalogs hold the same keys and placeholders, and every key the code uses exists."""

import re
import string
from pathlib import Path

import pytest

from gan_core import i18n

ROOT = Path(__file__).resolve().parent.parent


def placeholders(text):
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_catalogs_have_the_same_keys():
    en, other = i18n.catalog("en"), i18n.catalog("id")
    assert set(en) == set(other), set(en) ^ set(other)


def test_catalogs_have_the_same_placeholders_and_no_empty_strings():
    en, other = i18n.catalog("en"), i18n.catalog("id")
    for key in en:
        assert placeholders(en[key]) == placeholders(other[key]), key
        assert en[key].strip() and other[key].strip(), key


def test_every_key_used_in_the_code_exists():
    used = set()
    for path in [ROOT / "app.py", *(ROOT / "pages").glob("*.py")]:
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_.]+)["']""", path.read_text()))
    assert used, "the scan found no keys; the pattern is out of date"
    missing = used - set(i18n.catalog("en"))
    assert not missing, missing


def test_unknown_language_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown language"):
        i18n.t("app.title", "fr")


def test_section_strips_the_prefix():
    labels = i18n.section("toy.fig.", "id")
    assert labels["real"] == i18n.t("toy.fig.real", "id") and "toy.fig.real" not in labels
