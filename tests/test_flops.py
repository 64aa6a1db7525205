import json

import pytest

from pst.cli import main
from pst.report.flops import count


@pytest.mark.parametrize("name", ["deit_s_2d", "deit_s_tsm", "deit_s_tps"])
def test_deit_table1_cost(name):
    c = count(name, 16, 224)
    assert round(c["gflops"]) == 74 and round(c["params_m"]) == 22
    assert 73.0 < c["gflops"] < 74.0   # 16 x 4.6 G; a counter that misses the fused attention gives 67.9


def test_pst_costs_at_official_input():
    t = count("pst_t", 32, 224)
    assert round(t["gflops"]) == 72 and round(t["params_m"], 1) == 28.5
    b = count("pst_b", 32, 224, num_classes=174)
    assert round(b["gflops"]) == 247 and round(b["params_m"], 1) == 88.8
    assert count("swin_t_2d", 32, 224)["gflops"] == t["gflops"]      # TPS keeps the 2D cost
    assert round(count("swin3d_t", 32, 224)["gflops"]) == 88          # Table 2(e) 'local'


def test_flops_scale_with_frames():
    # per-frame cost doubles; the classifier runs once per clip
    assert count("deit_s_tps", 8, 224)["gflops"] * 2 == pytest.approx(count("deit_s_tps", 16, 224)["gflops"], rel=1e-5)


def test_cli_json_and_text(capsys):
    assert main(["flops", "deit_s_tps", "--frames", "16", "--size", "224", "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert set(rec) == {"model", "frames", "size", "gflops", "params_m"}
    assert (rec["model"], rec["frames"], rec["size"]) == ("deit_s_tps", 16, 224)
    assert main(["flops", "deit_s_tps", "--frames", "16", "--size", "224"]) == 0
    assert "74 GFLOPs / 22 M params" in capsys.readouterr().out


def test_cli_bad_model_and_option(capsys):
    assert main(["flops", "resnet50"]) == 2 and "deit_s_tps" in capsys.readouterr().err      # the models it knows
    assert main(["flops", "pst_t", "--set", "pattern=Q"]) == 2 and "pattern" in capsys.readouterr().err
