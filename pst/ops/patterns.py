"""The shift patterns of supplement Figure 1, as grids of temporal offsets.

A grid value ``s`` at (i, j) means: every token whose spatial position is (i mod g, j mod g) inside the tiling
is taken from frame ``t - s`` (cyclically), the official code's ``torch.roll(..., shifts=s)`` semantics.
"""
from __future__ import annotations

from typing import Sequence, Union

Grid = list[list[int]]
PatternLike = Union[str, Sequence[Sequence[int]]]

PATTERNS: dict[str, Grid] = {
    # 2x2 "Bayer" pattern: frames t-1, t, t+1.
    "A": [[0, 1], [-1, 0]],
    # A with the second index-0 position replaced by +2: four frames.
    "B": [[0, 1], [-1, 2]],
    # 3x3: nine consecutive frames, each of -4..4 once.
    "C": [[-4, 1, 2], [-1, 0, 3], [-2, -3, 4]],
    # 4x4: sixteen consecutive frames, each of -7..8 once.
    "D": [[0, 1, 2, 3], [-1, -7, 4, 5], [-2, -4, 7, 6], [-3, -5, -6, 8]],
}
PAPER_PATTERN = "C"         # the paper's pattern (Table 2(b)'s best, the released models'): every model's default


def pattern_grid(pattern: PatternLike) -> Grid:
    """Return the offset grid of a named pattern ("A"-"D") or validate a user-given square integer grid."""
    if isinstance(pattern, str):
        key = pattern.upper()
        if key not in PATTERNS:
            raise ValueError(f"pattern: unknown pattern {pattern!r}; choose one of {sorted(PATTERNS)} "
                             "or pass a square grid of integer offsets")
        return [row[:] for row in PATTERNS[key]]
    try:
        rows = [list(row) for row in pattern]
    except TypeError:
        raise ValueError(f"pattern: expected a name {sorted(PATTERNS)} or a square list of lists of int, "
                         f"got {type(pattern).__name__}") from None
    g = len(rows)
    if g == 0 or any(len(row) != g for row in rows):
        raise ValueError(f"pattern: grid must be square (g rows of g ints), got row lengths {[len(r) for r in rows]}")
    for row in rows:
        for v in row:
            if isinstance(v, bool) or not isinstance(v, int) and not (hasattr(v, "__index__") and not isinstance(v, float)):
                raise ValueError(f"pattern: grid values must be integers (temporal offsets), got {v!r}")
    return [[int(v) for v in row] for row in rows]


def frames_covered(pattern: PatternLike) -> int:
    """Number of distinct frames a pattern draws from (Table 2(b)'s 'frames' column)."""
    return len({v for row in pattern_grid(pattern) for v in row})
