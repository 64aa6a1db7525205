"""`pst verify`: the three verdicts on a copy of the committed embedded results in a git repository of their own —
identical bytes, another CPU kind's numbers inside the committed intervals, and cells outside them, each named."""
import json
import shutil
import subprocess

import pytest

from conftest import ROOT
from pst.cli import main

TABLES = "results/synthetic/tables"


@pytest.fixture
def repo(tmp_path, monkeypatch):
    (tmp_path / TABLES).mkdir(parents=True)
    for f in (ROOT / TABLES).glob("*.json"):
        shutil.copy(f, tmp_path / TABLES / f.name)
    shutil.copy(ROOT / "results/synthetic/README.md", tmp_path / "results/synthetic/README.md")
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")     # its `profile:` is what verify checks by default
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "results"]):
        subprocess.run(["git", *cmd], cwd=tmp_path, check=True, env={**env, "PATH": "/usr/bin:/bin"})
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _edit(repo, table, model, **cells):
    path = repo / TABLES / f"{table}.json"
    data = json.loads(path.read_text())
    row = next(r for r in data["rows"] if r["model"] == model)
    row.update(cells)
    path.write_text(json.dumps(data, indent=1) + "\n")
    return row


def _verify(capsys, *args):
    code = main(["verify", *args])
    return code, capsys.readouterr().out


def test_identical_bytes(repo, capsys):
    code, out = _verify(capsys)
    assert code == 0 and out.splitlines()[-1] == "synthetic: identical: every file of results/synthetic has HEAD's bytes"


def test_runs_no_table_names_are_noted(repo, capsys):
    """A table dropped from the profile leaves its runs (never deleted) inside the DVC output of its runs: the
    verdict stands (git does not track runs), and a note says why this dvc.lock is not a fresh clone's."""
    shutil.copy(ROOT / ".gitignore", repo / ".gitignore")
    stray = repo / "results/synthetic/runs/synthetic/tiny_deit/deit_tps_qkv/seed0"
    stray.mkdir(parents=True)
    (stray / "final.safetensors").write_bytes(b"weights")
    code, out = _verify(capsys)
    assert code == 0 and out.splitlines()[-1].startswith("synthetic: identical"), out
    assert ("note: 1 run folder(s) named by no table of profile synthetic (e.g. results/synthetic/runs/synthetic/"
            "tiny_deit/deit_tps_qkv/seed0;") in out and "this dvc.lock is not a fresh clone's" in out


def test_another_cpus_numbers_inside_the_committed_intervals(repo, capsys):
    row = _edit(repo, "table1_deit", "deit_tps", **{"top-1 seed0": 71.0})
    _edit(repo, "table1_deit", "deit_tps", **{"top-1": row["top-1"] - 4.0, "vs deit_2d": row["vs deit_2d"] - 4.0})
    _edit(repo, "table1_deit", "deit_tps", **{"vs deit_2d val auc resolved": False})    # as on the AMD EPYC
    code, out = _verify(capsys)
    assert code == 0, out
    assert out.splitlines()[-1] == "synthetic: reproduced within tolerance"
    assert "1 files of results/synthetic differ from HEAD" in out and "committed 95% interval" in out


def test_cells_outside_are_named_and_exit_1(repo, capsys):
    row = _edit(repo, "table1_deit", "deit_2d")
    mean, high = row["top-1"], row["top-1 ci95 high"]
    _edit(repo, "table1_deit", "deit_2d", **{"top-1": high + 0.5})                  # above its interval
    _edit(repo, "table2b_patterns", "pst_C", **{"vs pst_A resolved": True})           # now resolved
    _edit(repo, "table2b_patterns", "pst_B", **{"GFLOPs": 1.0})                       # a cost moved
    _edit(repo, "table2b_patterns", "pst_D", **{"vs pst_A val auc": -1.0})            # learned slower than A now
    code, out = _verify(capsys)
    assert code == 1, out
    outside = [line for line in out.splitlines() if line.startswith("  outside: ")]
    assert len(outside) == 4, out
    assert "table2b_patterns: pst_D/1x1, vs pst_A val auc: committed" in out and "(sign changed)" in out
    assert f"table1_deit: deit_2d/1x1, top-1: committed {mean:.2f}, now {high + 0.5:.2f} (outside the committed" in out
    assert "table2b_patterns: pst_C/1x1, vs pst_A: committed" in out and "resolution changed" in out
    assert "table2b_patterns: pst_B/1x1, GFLOPs: committed 0.0286, now 1.00 (changed)" in out
    assert out.splitlines()[-1].startswith("synthetic: not reproduced: 4 cells outside the tolerance")


def test_a_missing_row_or_table(repo, capsys):
    (repo / TABLES / "table2b_patterns.json").unlink()
    path = repo / TABLES / "table1_deit.json"
    data = json.loads(path.read_text())
    data["rows"] = data["rows"][:-1]
    path.write_text(json.dumps(data))
    code, out = _verify(capsys)
    assert code == 1 and "table1_deit: row deit_tps/1x1 is missing now" in out
    assert "table2b_patterns: results/synthetic/tables/table2b_patterns.json is missing now" in out
    path.write_text("[]")                                  # not a table at all: one line, exit 2
    assert main(["verify"]) == 2
    assert "table1_deit.json: not a table written by `pst table` (TypeError" in capsys.readouterr().err


def test_seeds_that_all_agree_leave_one_video_of_room():
    """Three seeds at 100 % give a t-interval of zero width; another CPU kind's one video wrong in one seed is
    within the measurement's resolution (100 / videos), two videos in one seed of 100 are not."""
    from pst.report.verify import compare_rows

    was = {"model": "m", "views": "1x1", "seeds": 3, "videos": 100, "twin top-1": 100.0, "twin top-1 std": 0.0,
           "twin top-1 ci95 low": 100.0, "twin top-1 ci95 high": 100.0}
    assert compare_rows("t", [was], [{**was, "twin top-1": 100 - 2 / 3}]) == (5, [])
    _, outside = compare_rows("t", [was], [{**was, "twin top-1": 100 - 4 / 3}])
    assert outside == ["t: m/1x1, twin top-1: committed 100.00, now 98.67 (outside the committed interval "
                       "[99.00, 100.00])"]
    old = {k: v for k, v in was.items() if k != "videos"}          # a table written before the video count
    assert compare_rows("t", [old], [{**old, "twin top-1": 100 - 2 / 3}])[1]


def test_edited_metrics_or_record_is_not_reproduced(repo, capsys):
    """A hand-edited metrics.json or run record is not a reproduction: the one no longer the tables' numbers, the
    other no longer its manifest's bytes and its predictions' top-1."""
    record = "results/synthetic/records/synthetic/tiny_deit/deit_tsm/seed0"
    shutil.copytree(ROOT / record, repo / record)
    shutil.copy(ROOT / "results/synthetic/metrics.json", repo / "results/synthetic/metrics.json")
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "more"], cwd=repo, check=True)
    metrics = json.loads((repo / "results/synthetic/metrics.json").read_text())
    metrics["table1_deit"]["deit_tsm"]["top1"] = 99.9
    (repo / "results/synthetic/metrics.json").write_text(json.dumps(metrics))
    ev = repo / record / "eval_1x1/eval.json"
    ev.write_text(ev.read_text().replace('"top1": ', '"top1": 1', 1))
    code, out = _verify(capsys)
    assert code == 1, out
    assert "metrics.json: its 'table1_deit' numbers are not those of" in out
    assert f"{record}: eval_1x1/eval.json is not the file recorded" in out
    assert out.splitlines()[-1].startswith("synthetic: not reproduced: 2 cells outside the tolerance")


def test_metrics_edited_in_both_places_are_not_the_rows(repo, capsys):
    """metrics.json and a table's metrics block edited alike still disagree with the table's rows."""
    shutil.copy(ROOT / "results/synthetic/metrics.json", repo / "results/synthetic/metrics.json")
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "more"], cwd=repo, check=True)
    for path, block in (("results/synthetic/metrics.json", "table1_deit"), (f"{TABLES}/table1_deit.json", "metrics")):
        data = json.loads((repo / path).read_text())
        data[block]["deit_tsm"]["top1"] = 99.0
        (repo / path).write_text(json.dumps(data, indent=1) + "\n")
    code, out = _verify(capsys)
    assert code == 1, out
    assert "table1_deit.json: its metrics (top-1 and its std per row) are not its rows'" in out


def test_edited_derived_files_are_not_reproduced(tmp_path, monkeypatch, capsys):
    """A number edited by hand in a file derived from the tables and records — a table's Markdown or CSV, a curves
    CSV, the per-class results, the results page — is named, each file once; the committed ones all follow."""
    import pandas as pd

    from pst.report.verify import check_derived

    tracked = subprocess.run(["git", "ls-files", "results", "params.yaml"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.split()
    for f in tracked:
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / f, tmp_path / f)
    classes = pd.read_csv(tmp_path / "results/synthetic/per_class/table1_deit.csv")["class"]   # in class order
    (tmp_path / "data/synthetic").mkdir(parents=True)
    (tmp_path / "data/synthetic/classes.txt").write_text("\n".join(classes) + "\n")
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "results"]):
        subprocess.run(["git", *cmd], cwd=tmp_path, check=True, env={**env, "PATH": "/usr/bin:/bin"})
    monkeypatch.chdir(tmp_path)
    derived = [f for f in tracked if f.startswith("results/synthetic/") and "/records/" not in f]
    assert check_derived(derived, "synthetic", tmp_path) == []          # every committed one follows
    edits = {"tables/table1_deit.md": ("98.0", "98.5"), "tables/table2b_patterns.csv": (",0.0286,", ",0.0287,"),
             "curves/table1_deit/deit_2d.csv": ("25.0,25.0,25.0\n", "26.0,25.0,27.0\n"),
             "per_class/table1_deit.json": ('"videos":', '"videos":1'),
             "README.md": ("39.7", "39.9")}
    for rel, (old, new) in edits.items():
        path = tmp_path / "results/synthetic" / rel
        assert old in path.read_text(), rel
        path.write_text(path.read_text().replace(old, new, 1))
    code, out = _verify(capsys)
    assert code == 1, out
    named = sorted(line.split(": ")[1] for line in out.splitlines() if line.startswith("  outside: "))
    assert named == sorted(f"results/synthetic/{rel}" for rel in edits), out


def test_deleted_records_are_not_reproduced(repo, capsys):
    """A run record deleted since REV is a result missing, named, not a reproduction."""
    record = "results/synthetic/records/synthetic/tiny_deit/deit_tsm/seed0"
    shutil.copytree(ROOT / record, repo / record)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "more"], cwd=repo, check=True)
    shutil.rmtree(repo / record)
    code, out = _verify(capsys)
    assert code == 1, out
    outside = [line for line in out.splitlines() if line.startswith("  outside: ")]
    assert len(outside) == len(list((ROOT / record).rglob("*.*"))) and all("missing now (committed at HEAD)" in line
                                                                          for line in outside), out
