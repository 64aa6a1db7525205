"""What a value accepts, in the words a refusal uses: one vocabulary for the recipe's keys (pst.engine.config) and
the models' options (pst.models), so "expected an integer > 0" means one test wherever it is said."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Check:
    """A test of one value, and the words a refusal says it expected."""
    ok: Callable[[Any], bool]
    accepts: str


def finite_number(v) -> bool:
    """A finite number (not a bool; inf and NaN are no value a recipe or a model option means)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def integer(v) -> bool:
    """A whole number (not a bool)."""
    return isinstance(v, int) and not isinstance(v, bool)


def at_least(low, *, whole=False, above=False, high=None) -> Check:
    """A number >= low (> low with ``above``), at most ``high`` where given; whole with ``whole``."""
    kind = "an integer" if whole else "a number"

    def ok(v):
        return ((integer(v) if whole else finite_number(v)) and (v > low if above else v >= low)
                and (high is None or v <= high))
    return Check(ok, f"{kind} {'>' if above else '>='} {low}" + (f" and <= {high}" if high is not None else ""))


def one_of(*choices) -> Check:
    return Check(lambda v: v in choices, "one of " + ", ".join(map(repr, choices)))
