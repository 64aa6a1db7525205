"""results/README.md names the code revision: the last commit that changed code; uncommitted or committed results,
docs and tests do not count, so a fresh clone of a results commit names the same revision."""
import subprocess

from pst.provenance import git_revision as _git


def _run(*cmd, cwd):
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)


def _commit(cwd, message):
    _run("git", "add", ".", cwd=cwd)
    _run("git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message, cwd=cwd)


def test_revision_names_the_last_code_commit(tmp_path, monkeypatch):
    _run("git", "init", "-q", cwd=tmp_path)
    for name, text in (("pst/code.py", "a = 1\n"), ("results/t.md", "old\n"), ("dvc.lock", "x\n"),
                       ("README.md", "docs\n")):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    _commit(tmp_path, "init")
    monkeypatch.chdir(tmp_path)
    clean = _git()
    assert clean and "uncommitted" not in clean and "unknown" not in clean
    (tmp_path / "results/t.md").write_text("new\n")
    (tmp_path / "dvc.lock").write_text("y\n")
    (tmp_path / "README.md").write_text("more docs\n")
    assert _git() == clean                                    # results and docs, uncommitted
    _commit(tmp_path, "results")
    assert _git() == clean                                    # ... and committed: still the code's commit
    (tmp_path / "pst/code.py").write_text("a = 2\n")
    assert _git() == clean + " + uncommitted changes"
    monkeypatch.chdir(tmp_path / "results")                   # run from a subfolder: the code is still seen
    assert _git() == clean + " + uncommitted changes"
    _commit(tmp_path, "code")
    assert _git() not in (clean, clean + " + uncommitted changes")


def test_a_jobs_code_is_what_it_imports():
    """An evaluation's fingerprint covers what `pst.engine.evaluate` imports, at the top or inside a function (the
    models, the loader, the released-checkpoint converter), and not the training loop: a log line edited there
    reruns no evaluation. The FLOPs count does not follow the loader."""
    from pst.provenance import CODE, PACKAGE, job_fingerprint, module_files

    evaluate = {str(f.relative_to(PACKAGE)) for f in module_files(*CODE["evaluate"])}
    assert {"engine/evaluate.py", "engine/build.py", "models/swin.py", "ops/shift.py", "data/video.py",
            "models/swin_checkpoints.py", "layout.py", "__init__.py", "models/__init__.py"} <= evaluate
    assert not {"engine/train.py", "engine/launch.py", "datasets/preprocess.py"} & evaluate
    assert not any(f.startswith("cli/") for f in evaluate) and (PACKAGE / "datasets/preprocess.py").is_file()
    flops = {str(f.relative_to(PACKAGE)) for f in module_files(*CODE["flops"])}
    assert "models/deit.py" in flops and not any(f.startswith("data/") for f in flops)
    assert len({job_fingerprint(k) for k in CODE}) == len(CODE)
