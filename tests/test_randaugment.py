"""The official RandAugment (mmaction2 0.x `Imgaug(transforms='default')`): its op table as the official source
writes it, every op pixel for pixel against what the real imgaug 0.4.0 wrote (tests/data/imgaug_refs.py), and the
policy's draws: two distinct ops in list order, the same on every frame, signs as the recipe says."""
import math
from pathlib import Path

import numpy as np
import pytest
import torch

import pst.data.randaugment as ra
from pst.data.randaugment import ClipRandAugment, apply_op, official_ops

REFS = Path(__file__).parent / "data" / "imgaug_refs.npz"

# mmaction2 0.x Imgaug.default_transforms() at magnitude 9 of 10, read from its source: (imgaug type, value, signed)
OFFICIAL = [("ShearX", 17.19 * 0.9, True), ("ShearY", 17.19 * 0.9, True), ("TranslateX", 0.18, True),
            ("TranslateY", 0.18, True), ("Rotate", 27.0, True), ("Posterize", 3, False), ("Solarize", 230.4, False),
            ("EnhanceColor", 1.72, False), ("EnhanceContrast", 1.72, False), ("EnhanceBrightness", 1.72, False),
            ("EnhanceSharpness", 1.72, False), ("Autocontrast", 0, False), ("Equalize", None, False),
            ("Invert", None, False), ("Cutout", 0.18, False)]


def test_op_table_is_the_official_one():
    ops = official_ops(9)
    assert [o.name for o in ops] == [name for name, _, _ in OFFICIAL]
    for op, (name, value, signed) in zip(ops, OFFICIAL):
        assert op.signed == signed, name
        assert (op.value is None and value is None) or op.value == pytest.approx(value, abs=1e-9), name


def test_every_op_equals_imgaug_pixel_for_pixel():
    refs = np.load(REFS)
    ops = {o.name: o for o in official_ops(9)}
    checked = 0
    for key in refs.files:
        if not key.startswith("out|"):
            continue
        _, image, name, sign = key.split("|")
        position = tuple(refs[f"cutout|{image}"].tolist()) if name == "Cutout" else (0.5, 0.5)
        ours = apply_op(refs[f"in|{image}"][None], ops[name], int(sign), position)[0]
        assert np.array_equal(ours, refs[key]), (key, np.abs(ours.astype(int) - refs[key]).max())
        checked += 1
    assert checked == 4 * (15 + 5)           # 4 images (both equalize paths, non-square), every op and sign


def test_rotation_and_shear_geometry():
    """Rotate +27 turns clockwise on screen (y down); imgaug's shear squashes the other axis by cos(shear)."""
    m = ra.affine_matrix("Rotate", 27.0, 224, 224)
    assert m[:2, :2] == pytest.approx(np.array([[math.cos(math.radians(27)), -math.sin(math.radians(27))],
                                                [math.sin(math.radians(27)), math.cos(math.radians(27))]]))
    shear = ra.affine_matrix("ShearX", 15.471, 224, 224)
    assert shear[1, 1] == pytest.approx(math.cos(math.radians(15.471))) and shear[1, 0] == pytest.approx(0, abs=1e-12)


def test_policy_draws_two_distinct_ops_in_list_order_the_same_on_every_frame(monkeypatch):
    seen = []
    real = ra.apply_op
    monkeypatch.setattr(ra, "apply_op", lambda frames, op, sign, pos: seen.append((op.name, sign)) or
                        real(frames, op, sign, pos))
    aug = ClipRandAugment(2, 9, signs="process", sign_sets=8, seed=0)
    frame = torch.randint(0, 256, (1, 3, 24, 24), dtype=torch.uint8)
    names = [o.name for o in aug.ops]
    pairs = set()
    torch.manual_seed(0)
    for _ in range(300):
        seen.clear()
        out = aug(frame.expand(4, -1, -1, -1).contiguous())
        assert all(torch.equal(out[0], out[k]) for k in range(4))          # one set of parameters per clip
        order = [names.index(n) for n, _ in seen]
        assert len(order) == 2 and order[0] < order[1]                       # distinct, in imgaug's list order
        pairs.add(tuple(order))
    assert len(pairs) > 80                                                   # of the 105 pairs
    # "process": 8 fixed sign sets drawn from the seed; a clip uses one of them
    assert aug.sign_sets.shape == (8, 15) and np.array_equal(aug.sign_sets,
                                                              ClipRandAugment(seed=0).sign_sets)
    assert not np.array_equal(aug.sign_sets, ClipRandAugment(seed=1).sign_sets)
    with pytest.raises(ValueError, match="signs: expected one of process, clip"):
        ClipRandAugment(signs="sample")
