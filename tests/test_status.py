"""`pst status`: done / running / failed / missing per table, read from run folders, locks and logs without
importing torch; finished runs that were moved aside are listed with their reason, and run folders no table of the
profile names."""
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from pst.engine.config import resolve
from pst.engine.run import move_aside, write_config
from pst.io import locked
from pst.layout import eval_path, final_weights
from pst.status import study_status
from pst.study import Run, Study

ROOT = Path(__file__).resolve().parents[1]


def _finished(study, run, top1, recipe=None):
    folder = Path(study.run_dir(run))
    folder.mkdir(parents=True)
    write_config(folder, resolve(recipe or study.recipe(run)))
    Path(final_weights(folder)).write_bytes(b"weights")
    (folder / "train.json").write_text(json.dumps({"final": {"val_top1": top1}}))
    Path(eval_path(folder, "1x1")).parent.mkdir()
    Path(eval_path(folder, "1x1")).write_text(json.dumps({"top1": top1}))
    return folder


def test_status_reads_each_runs_state_from_its_folder_lock_and_log(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    study = Study(params, "synthetic")
    t1 = study.table("table1_deit")
    run = lambda variant, seed: Run(t1.dataset, t1.recipe, variant, seed)      # noqa: E731
    _finished(study, run("deit_2d", 0), 38.0)
    old = study.recipe(run("deit_2d", 1))
    old["optim"]["lr"] = 0.5
    _finished(study, run("deit_2d", 1), 30.0, recipe=old)       # params.yaml now asks for another lr
    moved = move_aside(_finished(study, run("deit_2d", 2), 20.0), "optim.lr: 0.5 -> 0.001")
    dropped = _finished(study, run("deit_tps_qkv", 0), 50.0)    # a run of a table the profile no longer has

    running = Path(study.run_dir(run("deit_tsm", 0)))
    running.mkdir(parents=True)
    (running / "metrics.json").write_text(json.dumps([{"epoch": 1, "val_top1": 40.0}, {"epoch": 2, "val_top1": 55.0}]))
    (running / "timing.json").write_text(json.dumps([{"epoch": 1, "epoch_seconds": 30.0},
                                                     {"epoch": 2, "epoch_seconds": 30.0}]))
    failed = Path(study.run_dir(run("deit_tsm", 1)))
    (failed / "checkpoints").mkdir(parents=True)
    (failed / "checkpoints" / "ckpt_e0001_s00000012.pt").write_bytes(b"")
    log = Path(study.layout.train_log(t1.dataset, t1.recipe, "deit_tsm", 1))
    log.parent.mkdir(parents=True)
    log.write_text("epoch 1 ...\npst train: error: results/x: stopped by SIGTERM at epoch 2, step 12 "
                   "(checkpoint saved); rerun the same command to resume\n")

    as_file = Path(study.run_dir(run("deit_tps", 1)))         # what the next training would refuse (trial 11)
    as_file.parent.mkdir(parents=True, exist_ok=True)
    as_file.write_text("a file where the run's folder goes\n")
    broken = Path(study.run_dir(run("deit_tps", 2)))
    broken.mkdir(parents=True)
    (broken / "config.yaml").write_text("garbage: [\n")

    with locked(running, "pst train"):
        status = study_status(study)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        probe = "import sys; from pst.cli import main; rc = main(['status', '--profile', 'synthetic']); " \
                "print('torch imported:', 'torch' in sys.modules); sys.exit(rc)"
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env,
                             cwd=tmp_path, timeout=60)
    assert not Path(f"{study.run_dir(run('deit_tps', 0))}.lock").exists()      # probing creates nothing
    table = next(t for t in status["tables"] if t["table"] == "table1_deit")
    by = {(r["variant"], r["seed"]): r for r in table["runs"]}
    assert by["deit_2d", 0]["state"] == "done" and by["deit_2d", 0]["test_top1"] == {"1x1": 38.0}
    assert by["deit_2d", 0]["changed"] == []
    assert by["deit_2d", 1]["changed"] == ["optim.lr: 0.5 -> 0.001"]
    assert by["deit_2d", 2]["state"] == "missing"                              # moved aside, so no run there now
    r = by["deit_tsm", 0]
    assert r["state"] == "running" and r["epoch"] == 2 and r["val_top1"] == 55.0 and r["holder"].startswith(
        "pst train (pid") and r["eta_s"] == 30.0 * (r["epochs"] - 2)
    r = by["deit_tsm", 1]
    assert r["state"] == "failed" and "stopped by SIGTERM" in r["error"] and r["resumes_from"] == "epoch 1, step 12"
    assert by["deit_tps", 1]["blocked"] == f"{as_file} is a file, not a run's folder: move it aside"
    assert by["deit_tps", 2]["state"] == "failed" and "not valid YAML" in by["deit_tps", 2]["blocked"]
    assert table["counts"] == {"done": 2, "running": 1, "failed": 3, "missing": 3}
    assert status["archived"] == [{"run": str(moved), "reason": (moved / "ARCHIVED.txt").read_text().strip()}]
    assert status["unclaimed"] == [str(dropped)]                 # not its archived runs, nor the tables' own

    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "torch imported: False" in text
    assert "table1_deit: 2 done, 1 running, 3 failed, 3 missing" in text
    assert "no log [the next training is refused: " in text
    assert "recipe or data changed (optim.lr: 0.5 -> 0.001): the next run moves it aside" in text
    assert f"{moved}: moved aside from" in text
    assert "named by no table of this profile (kept, and part of the DVC output" in text and f"\n  {dropped}" in text
