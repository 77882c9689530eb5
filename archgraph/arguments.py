"""Arguments shared by the command line and the API, checked once, with one set of messages.

`positive(value, what)` and the other checks raise `ArgumentError` (a ValueError, or a
TypeError for a value of the wrong kind) with the message the CLI prints for the same
mistake; `parse_value` reads a `--set` value: a number, true/false, a string, or a list of
these in brackets, nested (`[3, 4, 6, 3]`, `[[1, 2], [3]]`), with no `eval`.
"""

from __future__ import annotations

import math
import os

TYPE_CHECKING = False  # typing's, without importing typing at start-up
if TYPE_CHECKING:
    from typing import Any

MAX_LIST = 4096  # items in one --set list, nested or not: far above any model's
MAX_NESTING = 8


class ArgumentError(ValueError):
    """A bad argument value: the message says which argument, what was expected and what was found."""


class ArgumentKindError(ArgumentError, TypeError):
    """A bad argument of the wrong kind (a string where a number goes, a bool where an int goes)."""


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def positive(value: Any, what: str = "", minimum: int = 1) -> int:
    """`value` as a whole number of at least `minimum` (`batch=`, `depth=`); `what` names the argument."""
    prefix = f"{what}: " if what else ""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArgumentKindError(f"{prefix}expected a whole number, found {_shown(value)}")
    if value < minimum:
        raise ArgumentError(f"{prefix}must be at least {minimum}, found {value}")
    return value


def positive_text(text: str, minimum: int = 1) -> int:
    """The command line's `--batch 2`: the text of a whole number of at least `minimum` (1; `--warmup`'s 0),
    else a ArgumentError."""
    try:
        value = int(text)
    except ValueError:
        raise ArgumentKindError(f"expected a whole number, found {_shown(text)}") from None
    return positive(value, minimum=minimum)


def one_of(value: Any, what: str, choices) -> Any:
    """`value` if it is one of `choices`, else a ArgumentError listing them."""
    if not isinstance(value, str) or value not in choices:
        raise ArgumentError(f"{what}: expected one of {', '.join(sorted(choices))}, found {_shown(value)}")
    return value


def path_like(value: Any, what: str = "path") -> Any:
    """A spec path: a str or os.PathLike."""
    if not isinstance(value, str | os.PathLike):
        raise ArgumentKindError(f"{what}: expected a path to a .arch file, found {_shown(value)}")
    return value


def model_name(value: Any) -> str | None:
    """`model`: None (the file's first model) or a name."""
    if value is not None and not isinstance(value, str):
        raise ArgumentKindError(f"model: expected a model's name, found {_shown(value)}")
    return value


def overrides(values: Any) -> dict[str, Any]:
    """Model parameter overrides {name: value}: names, and values a `--set` could give."""
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ArgumentKindError(f"overrides: expected a dict of parameter values, found {_shown(values)}")
    for key, value in values.items():
        if not isinstance(key, str) or not key.isidentifier():
            raise ArgumentError(f"overrides: expected parameter names, found {_shown(key)}")
        _check_value(value, key, 0)
    return dict(values)


def _check_value(value: Any, key: str, depth: int) -> None:
    if isinstance(value, list | tuple):
        if depth >= MAX_NESTING or len(value) > MAX_LIST:
            raise ArgumentError(f"{key}: a list nests deeper than {MAX_NESTING} or has over {MAX_LIST} items")
        for item in value:
            _check_value(item, key, depth + 1)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ArgumentError(f"{key}: expected a finite number, found {value}")
    elif not isinstance(value, bool | int | float | str):
        raise ArgumentKindError(f"{key}: expected a number, true/false, a string or a list, found {_shown(value)}")


# ---- --set values ----


def parse_value(text: str) -> Any:
    """A `--set` value: integers, floats, true/false, a list in brackets (nested), else a string
    (quotes optional). A malformed list is a ArgumentError."""
    stripped = text.strip()
    if not stripped.startswith("["):
        return _scalar(stripped)
    value, rest = _list(stripped, 0)
    if rest.strip():
        raise ArgumentError(f"unexpected {rest.strip()!r} after the list in {text!r}")
    return value


def _scalar(text: str) -> Any:
    lowered = text.lower()
    if len(lowered.lstrip("+-")) > 19 and lowered.lstrip("+-").isdigit():  # before int() reads 5,000 digits
        raise ArgumentError(f"an integer of {len(lowered):,} digits is out of range; numbers are limited to 2**62")
    if lowered in ("true", "false"):
        return lowered == "true"
    for convert in (int, float):
        try:
            number = convert(text)
        except ValueError:
            continue
        if isinstance(number, float) and not math.isfinite(number):
            raise ArgumentError(f"{text} is not a finite number; numbers are finite")
        return number
    return text.strip("\"'")


def _list(text: str, depth: int) -> tuple[list[Any], str]:
    """Parse `[a, b, ...]` at the start of `text`: (the list, the text after its `]`)."""
    if depth >= MAX_NESTING:
        raise ArgumentError(f"lists nest at most {MAX_NESTING} deep")
    rest, items = text[1:].lstrip(), []
    if rest.startswith("]"):
        return items, rest[1:]
    while True:
        if rest.startswith("["):
            item, rest = _list(rest, depth + 1)
        else:
            cut = min((i for i in (rest.find(","), rest.find("]")) if i >= 0), default=-1)
            if cut < 0:
                raise ArgumentError(f"a list is missing its closing `]`: {text!r}")
            raw, rest = rest[:cut].strip(), rest[cut:]
            if not raw or (" " in raw and raw[0] not in "\"'"):
                raise ArgumentError(f"expected items separated by `,` in the list {text!r}")
            item = _scalar(raw)
        items.append(item)
        if len(items) > MAX_LIST:
            raise ArgumentError(f"a list holds at most {MAX_LIST} items")
        rest = rest.lstrip()
        if rest.startswith("]"):
            return items, rest[1:]
        if not rest.startswith(","):
            raise ArgumentError(f"expected `,` or `]` in the list {text!r}")
        rest = rest[1:].lstrip()


def split_top(text: str) -> list[str]:
    """`text` split at commas outside brackets: `[1,2],[3,4]` -> ['[1,2]', '[3,4]'] (sweep's values)."""
    parts, level, start = [], 0, 0
    for i, char in enumerate(text):
        level += {"[": 1, "]": -1}.get(char, 0)
        if char == "," and level == 0:
            parts.append(text[start:i])
            start = i + 1
    return [*parts, text[start:]]
