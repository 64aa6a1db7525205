"""results/README.md names the code revision: uncommitted results do not count as changed code."""
import subprocess

from pst.provenance import git_revision as _git


def _run(*cmd, cwd):
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)


def test_revision_ignores_results_but_not_code(tmp_path, monkeypatch):
    _run("git", "init", "-q", cwd=tmp_path)
    for name, text in (("code.py", "a = 1\n"), ("results/t.md", "old\n"), ("dvc.lock", "x\n")):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    _run("git", "add", ".", cwd=tmp_path)
    _run("git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init", cwd=tmp_path)
    monkeypatch.chdir(tmp_path)
    clean = _git()
    assert clean and "uncommitted" not in clean and "unknown" not in clean
    (tmp_path / "results/t.md").write_text("new\n")
    (tmp_path / "dvc.lock").write_text("y\n")
    assert _git() == clean
    (tmp_path / "code.py").write_text("a = 2\n")
    assert _git() == clean + " + uncommitted changes"
    monkeypatch.chdir(tmp_path / "results")                   # run from a subfolder: the code is still seen
    assert _git() == clean + " + uncommitted changes"
