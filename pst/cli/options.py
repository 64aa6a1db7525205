"""What the commands' options share: argparse types that refuse in one line, and defaults read from the
library (a function's signature, a config dataclass's fields) so that a default lives once."""
from __future__ import annotations

import argparse
import functools
import re
from dataclasses import fields
from pathlib import Path


class Help(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's default in its help line, unless there is none (None) or the help states it in words
    ("(default ..." or "default: ...")."""

    def _get_help_string(self, action):
        help = action.help or ""
        stated = re.search(r"\(default\b|default:", help)
        return help if action.default is None or stated else super()._get_help_string(action)


@functools.lru_cache(maxsize=None)
def defaults(module: str, function: str) -> dict:
    """A library function's keyword defaults that are plain constants, read from its source: an option's default
    lives once, in the function the command calls, and building the parser imports no torch."""
    import ast
    import importlib.util

    tree = ast.parse(Path(importlib.util.find_spec(module).origin).read_text())
    args = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function).args
    named = list(zip(args.args[len(args.args) - len(args.defaults):], args.defaults))
    named += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
    return {a.arg: d.value for a, d in named if isinstance(d, ast.Constant)}


def config_options(p: argparse.ArgumentParser, config) -> None:
    """One option per field of a library's config dataclass, with its default and help: the default lives there."""
    kinds = {"int": int, "float": float}
    for f in fields(config):
        flag = "--" + f.name.replace("_", "-")
        if f.type == "bool":
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default, help=f.metadata["help"])
        elif f.type == "tuple":
            p.add_argument(flag, type=float, nargs=len(f.default), default=list(f.default),
                           metavar=("LOW", "HIGH")[:len(f.default)], help=f.metadata["help"])
        else:
            p.add_argument(flag, type=kinds[f.type], default=f.default, help=f.metadata["help"])


class Once(argparse.Action):
    """An option given at most once: a second value is refused, not silently taken over the first."""

    def __call__(self, parser, namespace, values, option_string=None):
        if getattr(namespace, self.dest, None) is not None:
            parser.error(f"{option_string} given twice ({getattr(namespace, self.dest)!r}, {values!r}); give one")
        setattr(namespace, self.dest, values)


def whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def positive(text: str) -> int:
    value = whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def at_least_zero(text: str) -> int:
    value = whole(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def finite(low: float, above: bool = False):
    """An argparse type: a finite number >= low (> low with ``above``)."""
    def parse(text: str) -> float:
        import math

        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value) or value < low or (above and value == low):
            raise argparse.ArgumentTypeError(f"must be a finite number {'>' if above else '>='} {low:g}, got {text}")
        return value
    return parse
