"""Left/right classes: which classes a horizontal flip turns into another class, and a recipe's flip rules by name.

A flip mirrors "Pushing something from left to right" into "... from right to left", so the official SS recipe
never flips those classes. The official configs name them by id (86, 87, 93, 94, 166, 167), which is right only in
the official numbering (SSv2's labels file; SSv1 sorted by name); our recipes name them by class name and resolve
the ids through the dataset's own class list, so a renumbered copy cannot silently flip the wrong classes.

A class is left/right when its name, with the words "left" and "right" swapped, names another class of the same
dataset ("pulling it right out" has no mirror class, so it is not one).
"""
from __future__ import annotations

import difflib
import re
from typing import Iterable, Optional

_SIDE = re.compile(r"(?<![A-Za-z])(left|right|Left|Right|LEFT|RIGHT)(?![A-Za-z])")
_SWAP = {"left": "right", "right": "left", "Left": "Right", "Right": "Left", "LEFT": "RIGHT", "RIGHT": "LEFT"}


def mirror_name(name: str) -> Optional[str]:
    """``name`` with the words left and right swapped (``move_left_to_right`` -> ``move_right_to_left``), or None
    when it names neither side."""
    swapped = _SIDE.sub(lambda m: _SWAP[m.group(1)], name)
    return swapped if swapped != name else None


def left_right_classes(classes: Iterable[str]) -> dict[str, str]:
    """Each left/right class of a class list -> its mirror class."""
    names = set(classes)
    return {n: m for n in names if (m := mirror_name(n)) is not None and m in names}


def flip_names(no_flip: Iterable[str], pairs: dict) -> list[str]:
    """Every class a recipe's flip rules name (``no_flip_classes`` and both sides of ``flip_pairs``)."""
    return list(dict.fromkeys([*no_flip, *pairs, *pairs.values()]))


def check_flip_rules(no_flip: Iterable[str], pairs: dict, classes: Iterable[str], source: str,
                     complete: bool = True) -> None:
    """Refuse flip rules that do not name left/right classes of ``classes`` (``source``: where the list comes
    from, e.g. the classes file), or pairs that are not each other's mirror. ``complete=False``: ``classes`` are
    only the dataset's left/right classes (what the catalog knows before a copy is prepared)."""
    no_flip, classes = list(no_flip), list(classes)
    for key, value in [("no_flip_classes", n) for n in no_flip] + [("flip_pairs", k) for k in pairs]:
        if not isinstance(value, str):
            raise ValueError(f"recipe: data.train.{key} names classes by their name, got {value!r}; write the "
                             f"class name as {source} spells it (ids depend on the numbering)")
    mirrors = left_right_classes(classes)
    known = set(classes)
    for name in flip_names(no_flip, pairs):
        if not isinstance(name, str):
            raise ValueError(f"recipe: data.train.flip_pairs maps to class names, got {name!r}")
        if name not in known and complete:
            close = difflib.get_close_matches(name, classes, n=1)
            hint = f" (closest: {close[0]!r})" if close else ""
            raise ValueError(f"recipe: data.train flip rule names {name!r}, which is not a class of {source}{hint}; "
                             "name the class exactly as the class list spells it")
        if name not in mirrors:
            sides = ", ".join(repr(c) for c in sorted(mirrors)) or "none"
            raise ValueError(f"recipe: data.train flip rule names {name!r}, which is not a left/right class of "
                             f"{source} (a flip does not turn it into another class; its left/right classes: "
                             f"{sides}); remove it from the flip rules")
    for a, b in pairs.items():
        if mirrors.get(a) != b:
            raise ValueError(f"recipe: data.train.flip_pairs {a!r}: {b!r} are not each other's mirror (a flip turns "
                             f"{a!r} into {mirrors.get(a)!r}); pair each class with its mirror")


def flip_ids(no_flip: Iterable[str], pairs: dict, classes: list[str], source: str) -> tuple[tuple[int, ...],
                                                                                             dict[int, int]]:
    """The flip rules as class ids of ``classes`` (checked first): (never-flipped ids, {id: mirrored id})."""
    no_flip = list(no_flip)
    check_flip_rules(no_flip, pairs, classes, source)
    ids = {c: i for i, c in enumerate(classes)}
    return tuple(ids[n] for n in no_flip), {ids[a]: ids[b] for a, b in pairs.items()}
