"""Figures are reproducible files: the same numbers give byte-identical SVGs (a regenerated figure is no git diff)."""
import json

import pytest

from pst.report.plots import curve_data, curves, write_curve_data


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
    data = curve_data(runs)
    assert data["deit_tps"]["val_top1"].tolist() == [27.5, 30.0, 32.5, 35.0]         # mean over the seeds
    assert data["deit_2d"]["loss_max"][0] == pytest.approx(1.01)                      # the band's top
    a = curves(data, tmp_path / "a", title="t")
    b = curves(curve_data(runs), tmp_path / "b", title="t")
    assert [p.suffix for p in a] == [".png", ".svg"]
    written = write_curve_data(data, tmp_path / "csv")                  # the same numbers: the same bytes again
    assert [p.name for p in written] == ["deit_2d.csv", "deit_tps.csv"]
    assert written[1].read_bytes() == write_curve_data(curve_data(runs), tmp_path / "csv2")[1].read_bytes()
    svg_a, svg_b = a[1].read_bytes(), b[1].read_bytes()
    assert b"fill-opacity: 0.15" in svg_a                       # the seed band is drawn
    assert svg_a == svg_b


def test_accuracy_vs_gflops_draws_our_rows_and_skips_paper_only_ones(tmp_path):
    from pst.report.plots import accuracy_vs_gflops

    table = {"title": "t", "rows": [
        {"model": "swin_2d", "views": "1x1", "GFLOPs": 0.03, "top-1": 40.0, "top-1 std": 2.0},
        {"model": "pst_t", "views": "1x1", "GFLOPs": 0.03, "top-1": 99.0, "top-1 std": None},
        {"model": "sparse (paper only)", "views": "1x1", "GFLOPs": None, "top-1": None}]}   # Table 2(e)'s sparse
    path = tmp_path / "t.json"
    path.write_text(json.dumps(table))
    svg = accuracy_vs_gflops(path, tmp_path / "fig")[1].read_text()
    assert "pst_t (1x1)" in svg and "swin_2d (1x1)" in svg and "sparse" not in svg
