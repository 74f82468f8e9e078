"""The one rule for a record's custom fields, whichever service holds the record and
whether they come from the API or an import.

Keys become MongoDB field names under `custom_fields`, so a `.` (a path separator) or a
leading `$` (an operator) is refused, as are control characters and blank names; spaces,
brackets and other punctuation are kept, because imported column headers ("Deal size
(USD)") name custom fields as people wrote them. Values are what an export writes and an
import reads back: text, whole numbers within JSON's exact range, finite decimals,
booleans, null, or flat lists of those (FerretDB stores no nested arrays, and an object
inside a custom field could not be shown as one cell of a spreadsheet)."""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

from crm_tabular.targets import is_custom_key

from . import bounds
from .errors import BadUserInput

_EXACT_INTEGER = 2**53  # beyond it a JSON number loses digits in a browser

_VALUE_RULE = "custom field values are texts, numbers, booleans or null, or flat lists of them"


def checked(value: Any, field: str) -> dict[str, Any]:
    """`value` as a record's custom fields; `BadUserInput` naming `field` (or
    `field.<key>` for one entry) when it breaks the rule. None is no custom fields."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadUserInput("must be a JSON object", field=field)
    bounds.custom_fields(value, field)
    for key, item in value.items():
        _check_key(key, field)
        for scalar in item if isinstance(item, list) else [item]:
            _check_scalar(scalar, f"{field}.{key}")
    return dict(value)


# An import checks the same few keys on every row.
_custom_key = lru_cache(maxsize=1024)(is_custom_key)


def _check_key(key: str, field: str) -> None:
    if not key.strip():
        raise BadUserInput("a custom field needs a name", field=field)
    if not _custom_key(key):
        raise BadUserInput(
            f"invalid custom field name {key!r}: no '.', no leading '$', no control characters",
            field=f"{field}.{key}",
        )


def _check_scalar(value: Any, field: str) -> None:
    if value is None or isinstance(value, str | bool):
        return
    if isinstance(value, int):
        if abs(value) > _EXACT_INTEGER:
            raise BadUserInput("integer out of range", field=field)
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise BadUserInput("must be a finite number", field=field)
        return
    raise BadUserInput(_VALUE_RULE, field=field)
