import pytest

from pst.ops import PATTERNS, frames_covered, pattern_grid


def test_named_patterns_are_figure_1():
    assert pattern_grid("A") == [[0, 1], [-1, 0]]
    assert pattern_grid("B") == [[0, 1], [-1, 2]]
    assert pattern_grid("C") == [[-4, 1, 2], [-1, 0, 3], [-2, -3, 4]]
    assert pattern_grid("D") == [[0, 1, 2, 3], [-1, -7, 4, 5], [-2, -4, 7, 6], [-3, -5, -6, 8]]


def test_c_and_d_hold_consecutive_frames_once():
    assert sorted(v for r in PATTERNS["C"] for v in r) == list(range(-4, 5))
    assert sorted(v for r in PATTERNS["D"] for v in r) == list(range(-7, 9))
    assert [frames_covered(p) for p in "ABCD"] == [3, 4, 9, 16]


def test_lowercase_name_and_copy_semantics():
    g = pattern_grid("c")
    g[0][0] = 99
    assert pattern_grid("C")[0][0] == -4


def test_user_grid_accepted():
    assert pattern_grid([[0, 2], [-2, 1]]) == [[0, 2], [-2, 1]]
    assert pattern_grid(((5,),)) == [[5]]


@pytest.mark.parametrize("bad, words", [
    ("E", ["pattern", "A", "D"]),
    ([[0, 1], [2]], ["square"]),
    ([], ["square"]),
    ([[0.5, 1], [1, 0]], ["integer"]),
    ([[True, 1], [1, 0]], ["integer"]),
    (3, ["pattern"]),
])
def test_bad_patterns_name_the_argument(bad, words):
    with pytest.raises(ValueError) as err:
        pattern_grid(bad)
    assert all(w in str(err.value) for w in words)
