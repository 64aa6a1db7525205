"""Reproduce yourself: the same recipe trained in separate processes at once, under load, with the study's thread
setting (one thread per job), writes byte-identical versioned files: final weights, metrics, env, train summary,
and the same evaluation. Timings and the time-stamped log are execution records and may differ."""
import hashlib
import os
import subprocess
import sys

import yaml

from engine_helpers import easy_set
from conftest import ROOT

VERSIONED = ("final.safetensors", "metrics.json", "metrics.csv", "env.json", "train.json", "config.yaml",
             "eval_1x1/predictions.csv")


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_recipe_in_concurrent_processes_gives_the_same_bytes(tmp_path, env_with_venv):
    data = easy_set(tmp_path / "data")
    study = yaml.safe_load((ROOT / "params.yaml").read_text())["recipes"]["tiny_deit"]   # the study's own recipe
    recipe = {**study, "data": {**study["data"], "root": str(data)},
              "schedule": {"epochs": 2, "warmup_epochs": 0.5}, "train": {**study["train"], "global_batch": 8,
                                                                          "batch_per_device": 8}}
    recipe["model"] = {"name": "deit_s_tps", "kwargs": {**study["model"]["kwargs"], "pattern": "C"}}
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    env = {**env_with_venv, "OMP_NUM_THREADS": "1"}                 # as the workflow's train rule runs a job
    # under load: 3 busy processes on 2 cores; a machine already as busy (CI's suite beside it) gets no extra one
    loaded = os.getloadavg()[0] >= os.cpu_count()
    hog = subprocess.Popen([sys.executable, "-c", "pass" if loaded else "while True: pass"])
    try:
        procs = [subprocess.Popen(["pst", "train", "--config", str(tmp_path / "recipe.yaml"), "--out",
                                   str(tmp_path / f"run{i}")], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True) for i in (0, 1)]
        for p in procs:
            out, _ = p.communicate(timeout=600)
            assert p.returncode == 0, out[-2000:]
        for i in (0, 1):
            ev = subprocess.run(["pst", "evaluate", str(tmp_path / f"run{i}"), "--views", "1x1", "--quiet"],
                                env=env, capture_output=True, text=True, timeout=600)
            assert ev.returncode == 0, ev.stderr[-2000:]
    finally:
        hog.kill()
    a, b = tmp_path / "run0", tmp_path / "run1"
    assert [f for f in VERSIONED if _digest(a / f) != _digest(b / f)] == []
    ea, eb = (yaml.safe_load((r / "eval_1x1/eval.json").read_text()) for r in (a, b))
    for e in (ea, eb):
        e.pop("run"), e.pop("out")                                  # the only fields naming the folder
    assert ea == eb
    # the execution records are there, and are what differs
    assert (a / "timing.json").is_file() and (a / "train.log").is_file()
    assert "git" not in yaml.safe_load((a / "env.json").read_text())
