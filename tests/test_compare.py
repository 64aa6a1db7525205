"""`pst compare` reads committed tables at two revisions of a real git repository."""
import json
import subprocess

import pytest

from pst.layout import Layout


def _git(repo, *args):
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin"})


def _table(repo, name, rows):
    path = repo / f"{Layout('synthetic').table(name)}.json"       # the default profile's table
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"title": name, "rows": rows}))


@pytest.fixture
def repo(tmp_path):
    _git(tmp_path, "init", "-q")
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


def test_compare_side_by_side_with_delta(repo, env_with_venv):
    out = subprocess.run(["pst", "compare", "v1", "v2", "--table", "table1_deit", "--format", "csv"], cwd=repo,
                         capture_output=True, text=True, env=env_with_venv)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "model,top1 @v1,top1 @v2,Δ top1,top5 @v1,top5 @v2,Δ top5"
    assert "deit_s_tps,70.0,75.5,5.5,99.0,99.0,0.0" in lines
    assert any(line.startswith("deit_s_tsm,,72.0,") for line in lines)        # new row: no value at v1
    md = subprocess.run(["pst", "compare", "v1", "v2", "--table", "table1_deit"], cwd=repo,
                        capture_output=True, text=True, env=env_with_venv).stdout
    assert "| deit_s_tsm" in md and "n/a" in md


def test_missing_table_or_revision_is_a_clear_message(repo, env_with_venv):
    first = subprocess.run(["git", "rev-list", "--max-parents=0", "HEAD"], cwd=repo, capture_output=True,
                           text=True).stdout.strip()
    out = subprocess.run(["pst", "compare", first, "v2", "--table", "table1_deit"], cwd=repo,
                         capture_output=True, text=True, env=env_with_venv)
    assert out.returncode == 2 and "has no table 'table1_deit'" in out.stderr
    out = subprocess.run(["pst", "compare", "nope", "v2", "--table", "table1_deit"], cwd=repo,
                         capture_output=True, text=True, env=env_with_venv)
    assert out.returncode == 2 and "not a commit" in out.stderr
    out = subprocess.run(["pst", "compare", "v1", "v2", "--table", "table9"], cwd=repo,
                         capture_output=True, text=True, env=env_with_venv)
    assert out.returncode == 2 and "tables there: table1_deit" in out.stderr
