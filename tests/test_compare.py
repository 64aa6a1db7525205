"""`pst compare` reads committed tables at two revisions of a real git repository."""
import json
import shutil
import subprocess

import pytest

from conftest import ROOT
from pst.cli import main
from pst.layout import Layout


def _git(repo, *args):
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin"})


def _init(repo):
    """A git repository with the project's params.yaml (its `profile:` is the profile compared by default)."""
    _git(repo, "init", "-q")
    shutil.copy(ROOT / "params.yaml", repo / "params.yaml")


def _table(repo, name, rows):
    path = repo / f"{Layout('synthetic').table(name)}.json"       # the default profile's table
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"title": name, "rows": rows}))


@pytest.fixture
def repo(tmp_path):
    _init(tmp_path)
    (tmp_path / "README").write_text("x")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "no tables yet")
    _table(tmp_path, "table1_deit", [{"model": "deit_s_2d", "top1": 12.5, "top5": 60.0},
                                      {"model": "deit_s_tps", "top1": 70.0, "top5": 99.0}])
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "v1")
    _git(tmp_path, "tag", "v1")
    _table(tmp_path, "table1_deit", [{"model": "deit_s_2d", "top1": 13.0, "top5": 61.0},
                                      {"model": "deit_s_tps", "top1": 75.5, "top5": 99.0},
                                      {"model": "deit_s_tsm", "top1": 72.0, "top5": 98.0}])
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "v2")
    _git(tmp_path, "tag", "v2")
    return tmp_path


def _compare(cwd, monkeypatch, capsys, *args) -> tuple[int, str, str]:
    """`pst compare ARGS` run in ``cwd`` (the repository whose revisions it reads): (exit code, stdout, stderr)."""
    monkeypatch.chdir(cwd)
    code = main(["compare", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_compare_side_by_side_with_delta(repo, monkeypatch, capsys):
    code, out, err = _compare(repo, monkeypatch, capsys, "v1", "v2", "--table", "table1_deit", "--format", "csv")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "model,top1 @v1,top1 @v2,top1 B − A,top5 @v1,top5 @v2,top5 B − A"   # what changed
    assert "deit_s_tps,70.0,75.5,5.5,99.0,99.0,0.0" in lines
    assert lines[-1].startswith("deit_s_tsm,,72.0,")                        # new row, last: no value at v1
    md = _compare(repo, monkeypatch, capsys, "v1", "v2", "--table", "table1_deit")[1]
    assert "| deit_s_tsm" in md and "n/a" in md


def test_missing_table_or_revision_is_a_clear_message(repo, monkeypatch, capsys):
    first = subprocess.run(["git", "rev-list", "--max-parents=0", "HEAD"], cwd=repo, capture_output=True,
                           text=True).stdout.strip()
    code, _, err = _compare(repo, monkeypatch, capsys, first, "v2", "--table", "table1_deit")
    assert code == 2 and "has no table 'table1_deit'" in err
    code, _, err = _compare(repo, monkeypatch, capsys, "nope", "v2", "--table", "table1_deit")
    assert code == 2 and "not a commit" in err
    code, _, err = _compare(repo, monkeypatch, capsys, "v1", "v2", "--table", "table9")
    assert code == 2 and "tables there: table1_deit" in err


def _row(model, seeds, paper):
    mean = sum(seeds) / len(seeds)
    std = (sum((v - mean) ** 2 for v in seeds) / (len(seeds) - 1)) ** 0.5
    return {"model": model, "views": "1x1", "GFLOPs @paper input": 73.58, "seeds": len(seeds), "top-1": mean,
            "top-1 std": std, **{f"top-1 seed{i}": v for i, v in enumerate(seeds)}, "top-1 paper": paper}


def test_compare_reads_in_table_order_with_the_seeds_spread(tmp_path, monkeypatch, capsys):
    """Rows in the table's order (not alphabetical); top-1 at each revision as mean ± std, B - A, and whether B - A
    stands out of the seeds' spread (Welch's 95% interval); constant columns once; per-seed values on request."""
    _init(tmp_path)
    _table(tmp_path, "table1_deit", [_row("deit_tsm", [97, 98, 99], 74.8), _row("deit_2d", [40, 41, 42], 73.0),
                                      _row("deit_tps", [60, 80, 70], 75.3)])
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "a")
    _table(tmp_path, "table1_deit", [_row("deit_tsm", [97, 98, 99], 74.8), _row("deit_2d", [50, 51, 52], 73.0),
                                      _row("deit_tps", [62, 82, 72], 75.3)])
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "b")
    run = ["HEAD~1", "HEAD", "--table", "table1_deit"]
    code, md, err = _compare(tmp_path, monkeypatch, capsys, *run)
    assert code == 0, err
    rows = [line for line in md.splitlines() if line.startswith("| deit")]
    assert [r.split("|")[1].strip() for r in rows] == ["deit_tsm", "deit_2d", "deit_tps"]
    assert "98.0 ± 1.0" in rows[0] and "within" in rows[0]
    assert "41.0 ± 1.0" in rows[1] and "51.0 ± 1.0" in rows[1] and "10.00" in rows[1] and "beyond" in rows[1]
    assert "within" in rows[2]                                   # +2 where the seeds spread by 10
    header = md.splitlines()[2]
    assert "paper" not in header and header.count("|") - 1 == 6             # the constant columns are not repeated
    wide = _compare(tmp_path, monkeypatch, capsys, *run, "--wide", "--format", "csv")[1].splitlines()[0].split(",")
    assert wide.count("top-1 paper") == 1 and "top-1 @HEAD~1" in wide and "top-1 B − A" in wide
    seeds = _compare(tmp_path, monkeypatch, capsys, *run, "--seeds", "--format", "csv")[1].splitlines()
    assert "seed1 B − A" in seeds[0] and seeds[2].startswith("deit_2d,") and seeds[2].endswith(",52,10")


def test_curves_at_two_revisions_and_what_dvc_plots_reads(tmp_path, capsys):
    """`pst compare --curves` draws each row's committed curves at both revisions; the CSVs are the DVC plots
    dvc.yaml declares (x: epoch, y: val_top1)."""
    import yaml

    from pst.cli import main
    from pst.report.compare import curves_at

    _init(tmp_path)
    folder = tmp_path / Layout("synthetic").curves("table1_deit")
    for rev, top in (("a", 50.0), ("b", 60.0)):
        _table(tmp_path, "table1_deit", [_row("deit_2d", [40, 41, 42], 73.0)])
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "deit_2d.csv").write_text("epoch,loss,loss_min,loss_max,val_top1,val_top1_min,val_top1_max\n"
                                            f"1,1.3,1.2,1.4,30.0,25.0,35.0\n2,0.9,0.8,1.0,{top},{top - 5},{top + 5}\n")
        _git(tmp_path, "add", "-A")
        _git(tmp_path, "commit", "-qm", rev)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path)
        assert curves_at("HEAD~1", "table1_deit", profile="synthetic")["deit_2d"]["val_top1"].tolist() == [30.0, 50.0]
        assert main(["compare", "HEAD~1", "HEAD", "--table", "table1_deit", "--curves", "moved.png"]) == 0
        assert "curves: moved.png, moved.svg" in capsys.readouterr().out
        assert (tmp_path / "moved.png").read_bytes()[:4] == b"\x89PNG"
        _git(tmp_path, "rm", "-rq", str(folder))                     # a revision without curves: one line
        _git(tmp_path, "commit", "-qm", "c")
        assert main(["compare", "HEAD~1", "HEAD", "--table", "table1_deit", "--curves", "moved.png"]) == 2
        assert "revision HEAD: no curves of table 'table1_deit'" in capsys.readouterr().err
    plots = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["study"]["do"]["plots"]
    assert plots == [{"results/${key}/curves": {"cache": False, "x": "epoch", "y": "val_top1", "x_label": "epoch",
                                                "y_label": "validation top-1 (%, mean over seeds)"}}]


def test_a_mean_over_seeds_prints_one_way_everywhere():
    """The study table, the per-class table and `pst compare` print a mean over seeds through one function: mean ±
    std over several seeds, the mean alone over one, n/a for any missing mean (None, NaN of any float type, pandas'
    NA: `pst compare` once printed "<NA> ± 1.0")."""
    import numpy as np
    import pandas as pd

    from pst.report.study_table import mean_std_text

    assert mean_std_text(75.25, 2.04, True) == "75.2 ± 2.0" and mean_std_text(75.25, None, False) == "75.2"
    for missing in (None, float("nan"), np.float32("nan"), pd.NA):
        assert mean_std_text(missing, 1.0, True) == "n/a"
