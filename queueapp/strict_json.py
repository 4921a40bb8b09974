"""JSON from visitors and scripts, read strictly: only what every part of Lineup can carry.

Python's `json` accepts `NaN` and `Infinity`, which a browser's `JSON.parse` rejects, and
escaped lone surrogates (`"\\ud800"`), which are not characters and which the channel layer
cannot encode. A value holding either would be stored, then fail far from where it came in;
here it is refused at the door.
"""

import json
from typing import Any


class UnsafeJSON(ValueError):
    """Valid JSON that Lineup does not take; the message says why, for the sender."""


def _refuse_constant(name: str) -> None:
    raise UnsafeJSON(f"{name} is not a number JSON allows; send finite numbers only.")


def loads(text: str | bytes) -> Any:
    """Parse `text`; `ValueError` if it is not JSON, `UnsafeJSON` if it holds what Lineup
    cannot carry."""
    value = json.loads(text, parse_constant=_refuse_constant)
    _check_text(value)
    return value


def _check_text(value: Any) -> None:
    """Every string in `value` (keys included) is valid Unicode; walked without recursion."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if not item.isascii():
                try:
                    item.encode()
                except UnicodeEncodeError:
                    raise UnsafeJSON(
                        "Text must be valid Unicode: a lone surrogate (\\ud800-\\udfff) is "
                        "not a character."
                    ) from None
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
