"""How a setting's value is refused: FieldError names the setting by its field, so each
reader says it in its own words (the CLI names the flag, a page its label) around the same
rule ("must be between 1 and 1,024")."""

from __future__ import annotations

import math


class Said(ValueError):
    """A refusal a page can say in its own language: `key` names its sentence in the catalogs
    (under "error."), `fmt` fills it in; str() is the English sentence, for the CLI and logs."""

    def __init__(self, english: str, key: str | None = None, **fmt):
        super().__init__(english)
        self.key, self.fmt = key, fmt


class FieldError(ValueError):
    def __init__(self, field: str, rule: str):
        super().__init__(f"{field} {rule}")
        self.field, self.rule = field, rule

    def named(self, name: str) -> str:
        return f"{name} {self.rule}"


def check(ok: bool, field: str, rule: str):
    if not ok:
        raise FieldError(field, rule)


def finite(value) -> bool:
    """A real, finite number (not nan, not inf, not text)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def flag_of(field: str) -> str:
    """A field's command-line flag: lr_g is --lr-g."""
    return "--" + field.replace("_", "-")
