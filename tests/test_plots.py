"""Figures are reproducible files: the same numbers give byte-identical SVGs (a regenerated figure is no git diff)."""
import json

from pst.report.plots import curves


def test_same_numbers_same_svg_bytes(tmp_path):
    runs = {}
    for variant, scale in (("deit_2d", 1.0), ("deit_tps", 0.5)):
        runs[variant] = []
        for seed in range(2):
            run = tmp_path / variant / f"seed{seed}"
            run.mkdir(parents=True)
            rows = [{"epoch": e, "loss": scale / e + 0.01 * seed, "val_top1": 25 + 5 * e * scale} for e in range(1, 5)]
            (run / "metrics.json").write_text(json.dumps(rows))
            runs[variant].append(str(run))
    a = curves(runs, tmp_path / "a", title="t")
    b = curves(runs, tmp_path / "b", title="t")
    assert [p.suffix for p in a] == [".png", ".svg"]
    svg_a, svg_b = a[1].read_bytes(), b[1].read_bytes()
    assert b"fill-opacity: 0.15" in svg_a                       # the seed band is drawn
    assert svg_a == svg_b
