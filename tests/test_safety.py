"""Nothing finished is lost: run identity vs execution settings, finished runs moved aside (never deleted), a failed
start leaves no trace, SIGTERM checkpoints and exits retryably (resume bit-identical), one writer per run,
evaluations in their own folders, labels checked before any step, partial videos reported, one-line errors."""
import hashlib
import json
import shutil
import os
import re
import signal
import subprocess
import sys
import time

import av
import numpy as np
import pytest
import torch
import yaml

from engine_helpers import DENSE, easy_set, tiny_recipe
from pst.cli import main
from pst.datasets.validate import validate
from pst.engine.evaluate import evaluate_run
from pst.engine.run import execution, identity
from pst.engine.train import train
from pst.layout import eval_dir


@pytest.fixture(scope="module")
def easy(tmp_path_factory):
    return easy_set(tmp_path_factory.mktemp("easy"))


def _short(easy, **train_kw):
    r = tiny_recipe(easy, **train_kw)
    r["schedule"] = {"epochs": 1, "warmup_epochs": 0.0}
    r["model"]["kwargs"]["depth"] = 1
    return r


def _pst(args, env, **kw):
    return subprocess.run(["pst", *args], capture_output=True, text=True, env=env, timeout=300, **kw)


def test_execution_settings_never_make_another_run(easy, tmp_path):
    r = _short(easy)
    run = tmp_path / "run"
    train(r, run)
    final = run / "final.safetensors"
    stamp, recipe = final.stat().st_mtime_ns, (run / "config.yaml").read_bytes()
    faster = {**r, "data": {**r["data"], "workers": 1, "cache_videos": True},
              "train": {**r["train"], "keep_checkpoints": 5, "checkpoint_every_steps": 2, "tensorboard": False}}
    assert identity(faster) == identity(r) and execution(faster)["data.workers"] == 1
    train(faster, run)                                             # no restart, no refusal: the same run
    assert final.stat().st_mtime_ns == stamp
    assert (run / "config.yaml").read_bytes() == recipe              # a finished run is never rewritten


def test_changed_recipe_moves_the_finished_run_aside_with_its_evaluations(easy, tmp_path, capsys):
    r = _short(easy)
    run = tmp_path / "run"
    first = train(r, run)
    cached = train({**r, "data": {**r["data"], "cache_videos": True}}, tmp_path / "cached")
    assert cached["final"]["loss"] == first["final"]["loss"]            # an execution setting: the same clips
    assert main(["evaluate", str(run), "--views", "1x1", "--quiet"]) == 0
    assert f"wrote {eval_dir(run, '1x1')}/eval.json" in capsys.readouterr().out
    weights = (run / "final.safetensors").read_bytes()
    umask = os.umask(0)
    os.umask(umask)
    assert {(run / f).stat().st_mode & 0o777 for f in ("final.safetensors", "train.json", "eval_1x1/eval.json")} \
        == {0o666 & ~umask}                                              # the weights as readable as the rest
    changed = {**r, "optim": {**r["optim"], "lr": 5e-4}}
    with pytest.raises(ValueError, match=r"another recipe or data \(optim.lr: 0.001 -> 0.0005\).*--restart-on-change"):
        train(changed, run)
    again = train(changed, run, restart_on_change=True)
    assert again["final"]["loss"] != first["final"]["loss"]
    archived = list((tmp_path / "run.archived").iterdir())
    assert len(archived) == 1                                           # kept whole, never deleted
    old = archived[0]
    assert (old / "final.safetensors").read_bytes() == weights and (old / "eval_1x1" / "eval.json").exists()
    assert "optim.lr: 0.001 -> 0.0005" in (old / "ARCHIVED.txt").read_text()
    assert yaml.safe_load((run / "config.yaml").read_text())["optim"]["lr"] == 5e-4
    log = (run / "train.log").read_text()                               # afresh: the old log went aside with it
    assert "starting afresh" in log and "resuming" not in log
    # a finished run whose final weights are gone (removed by Snakemake before a rerun) is still finished work:
    # its summary and evaluation go aside whole, with a note, never deleted with the stale checkpoints
    assert main(["evaluate", str(run), "--views", "1x1", "--quiet"]) == 0
    (run / "final.safetensors").unlink()
    train(r, run, restart_on_change=True)
    [gone] = [d for d in (tmp_path / "run.archived").iterdir() if d != old]
    assert (gone / "eval_1x1" / "eval.json").exists() and (gone / "train.json").exists()
    assert "its final weights were gone before it was moved" in (gone / "ARCHIVED.txt").read_text()


def test_a_failed_start_leaves_no_trace(easy, tmp_path, capsys):
    r = _short(easy)
    recipe = tmp_path / "recipe.yaml"
    bad = {**r, "model": {**r["model"], "name": "deit_s_tps", "kwargs": {**r["model"]["kwargs"], "pattern": "E"}}}
    recipe.write_text(yaml.safe_dump(bad))
    run = tmp_path / "run"
    assert main(["train", "--config", str(recipe), "--out", str(run)]) == 2
    assert "unknown pattern 'E'" in capsys.readouterr().err
    assert not run.exists()                                          # no config.yaml to block the corrected command
    recipe.write_text(yaml.safe_dump({**bad, "model": {**bad["model"], "kwargs": {**bad["model"]["kwargs"],
                                                                                   "pattern": "C"}}}))
    assert main(["train", "--config", str(recipe), "--out", str(run)]) == 0
    assert f"wrote {run}/final.safetensors" in capsys.readouterr().out


def test_sigterm_checkpoints_and_exits_retryably_then_resume_is_exact(easy, tmp_path, env_with_venv):
    r = tiny_recipe(easy, deterministic=True)
    r["schedule"] = {"epochs": 4, "warmup_epochs": 0.5}
    r["data"]["workers"] = 1                      # a loader worker gets the signal too, as under SLURM
    r["model"]["kwargs"]["drop_path_rate"] = 0.2  # the model draws from torch's RNG: a resume must replay it
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(r))
    cmd = ["pst", "train", "--config", str(recipe), "--out"]
    ref = subprocess.run(cmd + [str(tmp_path / "ref")], capture_output=True, text=True, env=env_with_venv, timeout=300)
    assert ref.returncode == 0, ref.stderr[-2000:]
    run = tmp_path / "stopped"
    proc = subprocess.Popen(cmd + [str(run)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env_with_venv, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (run / "config.yaml").exists():     # training has started
        time.sleep(0.05)
    time.sleep(1.0)                                                           # mid-run (no checkpoint cadence)
    os.killpg(proc.pid, signal.SIGTERM)                                       # every process of the job
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 75, err[-2000:]                                 # retryable (EX_TEMPFAIL)
    assert re.search(r"stopped by SIGTERM at epoch \d, step \d+ \(checkpoint saved\); rerun the same command to "
                     "resume", err), err[-2000:]
    assert "Traceback" not in err and not (run / "final.safetensors").exists()
    done = subprocess.run(cmd + [str(run)], capture_output=True, text=True, env=env_with_venv, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    for name in ("final.safetensors", "metrics.json", "train.json"):          # the versioned files: same bytes
        assert (tmp_path / "ref" / name).read_bytes() == (run / name).read_bytes(), name
    log = (run / "train.log").read_text()
    assert "starting afresh" in log and re.search(r"resuming at epoch \d, step \d+", log), log


def test_checkpoints_on_a_time_cadence_mid_epoch(easy, tmp_path):
    r = _short(easy, checkpoint_minutes=1e-5, keep_checkpoints=100, keep_finished="all")   # due at every step
    train(r, tmp_path / "run")
    mid = list((tmp_path / "run" / "checkpoints").glob("ckpt_e0000_*.pt"))     # inside epoch 1, not at its end
    assert len(mid) == 96 // 8                                               # one per optimizer step
    # a finished run keeps its last checkpoint by default (or none): an execution setting, not another run
    r["train"]["keep_finished"] = "last"
    finished = (tmp_path / "run" / "config.yaml").read_bytes()
    assert train(r, tmp_path / "run")["steps"] == 12                         # already trained: nothing removed
    assert (tmp_path / "run" / "config.yaml").read_bytes() == finished       # nor rewritten
    assert len(list((tmp_path / "run" / "checkpoints").glob("*.pt"))) == 13
    for keep, left in (("last", ["ckpt_e0001_s00000012.pt", "ckpt_e0001_s00000012.pt.sha256"]), ("none", [])):
        r["train"]["keep_finished"] = keep
        train(r, tmp_path / keep)
        assert sorted(p.name for p in (tmp_path / keep / "checkpoints").glob("*")) == left, keep
        assert (tmp_path / keep / "final.safetensors").read_bytes() == (tmp_path / "run" / "final.safetensors").read_bytes()
    ckpts = tmp_path / "last" / "checkpoints"                    # a kill cut its pruning short: its rerun ends it
    shutil.copy(ckpts / "ckpt_e0001_s00000012.pt", ckpts / "ckpt_e0000_s00000006.pt")
    (ckpts / "ckpt_e0000_s00000003.pt.sha256").write_text("0" * 64 + "\n")           # a digest without its file
    assert train(r, tmp_path / "last")["steps"] == 12
    assert sorted(p.name for p in ckpts.glob("*")) == ["ckpt_e0001_s00000012.pt", "ckpt_e0001_s00000012.pt.sha256"]
    # a damaged final-weights file is never taken as done; the refusal's fix writes the same bytes again
    final = tmp_path / "last" / "final.safetensors"
    good = final.read_bytes()
    final.write_bytes(good[:len(good) // 2])
    r["train"]["keep_finished"] = "last"
    with pytest.raises(ValueError, match="final.safetensors: damaged or truncated"):
        train(r, tmp_path / "last")
    flipped = bytearray(good)
    flipped[-5] ^= 0xFF                                          # same size, one byte inside a tensor
    final.write_bytes(flipped)
    with pytest.raises(ValueError, match=r"final.safetensors: damaged \(its tensors do not match the SHA-256"):
        train(r, tmp_path / "last")
    # a checkpoint with a flipped byte (torch.load would read it) is skipped as one that does not load
    last = tmp_path / "last" / "checkpoints" / "ckpt_e0001_s00000012.pt"
    flipped = bytearray(last.read_bytes())
    flipped[len(flipped) // 2] ^= 0xFF
    last.write_bytes(flipped)
    final.unlink()
    (tmp_path / "last" / "train.json").unlink()
    with pytest.warns(RuntimeWarning, match="ckpt_e0001_s00000012.pt is damaged"):
        train(r, tmp_path / "last")                              # nothing to resume from: afresh, the same bytes
    assert final.read_bytes() == good


def test_one_writer_per_run(easy, tmp_path, env_with_venv):
    r = tiny_recipe(easy)
    r["schedule"] = {"epochs": 500, "warmup_epochs": 0.5}     # still training when Ctrl-C comes, however slow the CI
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(r))
    run = tmp_path / "run"
    # as at a terminal, SIGINT is not ignored (a shell's background `&` ignores it, and the child would inherit that)
    first = subprocess.Popen(["pst", "train", "--config", str(recipe), "--out", str(run)], env=env_with_venv,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not (run / "config.yaml").exists():
            time.sleep(0.05)
        second = _pst(["train", "--config", str(recipe), "--out", str(run), "--set", "train.seed=1"], env_with_venv)
        assert second.returncode == 2
        assert f"{run} is in use by pst train (pid {first.pid}" in second.stderr
        assert yaml.safe_load((run / "config.yaml").read_text())["train"]["seed"] == 0   # untouched
    finally:
        first.send_signal(signal.SIGINT)                                        # Ctrl-C
        first.wait(timeout=120)
    assert first.returncode == 130
    log = (run / "train.log").read_text()                     # as SIGTERM: a checkpoint at the step it stopped at
    stopped = re.search(r"stopped by Ctrl-C at epoch (\d+), step (\d+) \(checkpoint saved\)", log)
    assert stopped, log[-500:]
    assert list((run / "checkpoints").glob(f"ckpt_e*_s{int(stopped[2]):08d}.pt"))
    assert not (tmp_path / "run.lock").exists()               # the lock file goes with its last holder


def test_evaluations_go_to_their_own_folders_and_out_is_checked_first(easy, tmp_path, env_with_venv, capsys,
                                                                     monkeypatch):
    run = tmp_path / "run"
    train(_short(easy), run)
    other = tmp_path / "other.txt"
    lines = (easy / "val.txt").read_text().splitlines(True)
    other.write_text("".join(lines[:4] + lines[1:2]))          # the second video listed twice
    assert main(["evaluate", str(run), "--quiet"]) == 0, capsys.readouterr().err
    kept = (run / "eval_1x1" / "eval.json").read_bytes()
    # every view's scores are kept (the same bytes again), and rescored without a forward pass
    scores = np.load(run / "eval_1x1" / "scores.npz")
    assert scores["logits"].shape == (len(scores["labels"]), 1, 4) and int(scores["crops"]) == 1
    evaluate_run(run, out=tmp_path / "again")
    assert (tmp_path / "again" / "scores.npz").read_bytes() == (run / "eval_1x1" / "scores.npz").read_bytes()
    assert main(["evaluate", str(run), "--rescore", "--average", "score"]) == 0
    assert "no forward pass" in capsys.readouterr().out
    rec = json.loads((run / "eval_1x1_rescored-score-of-1x1" / "eval.json").read_text())
    mean_logit = torch.from_numpy(scores["logits"]).mean(1)
    assert rec["forward_pass"] is False and rec["average"] == "score" and rec["view_indices"] == [0]
    assert rec["top1"] == pytest.approx(100 * (mean_logit.argmax(1) == torch.from_numpy(scores["labels"]))
                                        .float().mean().item())
    assert main(["evaluate", str(run), "--rescore", "--average", "score"]) == 0              # the same again
    assert "already rescored" in capsys.readouterr().out
    assert main(["evaluate", str(run), "--rescore", "--workers", "2"]) == 2                   # never ignored
    assert "--rescore takes a run directory and --views/--average/--from only (not --workers)" in \
        capsys.readouterr().err
    shutil.copytree(run, tmp_path / "copy")                   # a copy of the run: the same weights, kept scores
    assert main(["evaluate", str(tmp_path / "copy"), "--rescore", "--average", "prob"]) == 0, capsys.readouterr().err
    shutil.rmtree(tmp_path / "copy")
    assert main(["evaluate", str(run), "--rescore", "--views", "3x1"]) == 2
    assert "3 crops are not a subset of the 1 scored; CROPS can be 1" in capsys.readouterr().err
    from pst.engine.evaluate import write_scores                # scores not the evaluation's (another run's): refused
    good = (run / "eval_1x1" / "scores.npz").read_bytes()
    t = {k: torch.from_numpy(scores[k]) for k in ("logits", "labels", "indices")}
    write_scores(run / "eval_1x1" / "scores.npz", -t["logits"], t["labels"], t["indices"], 1, 1)
    assert main(["evaluate", str(run), "--rescore"]) == 2
    assert "scores.npz: not the view scores eval.json recorded" in capsys.readouterr().err
    (run / "eval_1x1" / "scores.npz").write_bytes(good)
    monkeypatch.chdir(tmp_path)
    assert main(["evaluate", str(run), "--list", "other.txt", "--quiet"]) == 0, capsys.readouterr().err  # from the cwd
    assert "1 list entries name a video listed before (e.g. " + lines[1].split()[0] in capsys.readouterr().out
    tag = hashlib.sha256(other.read_bytes()).hexdigest()[:8]
    rec = json.loads((run / f"eval_1x1_other-{tag}" / "eval.json").read_text())
    assert (rec["videos_listed"], rec["videos_evaluated"], rec["entries_repeated"]) == (5, 5, 1)   # scored twice,
    assert rec["repeated"] == [lines[1].split()[0]]                                              # and said so
    assert (run / "eval_1x1" / "eval.json").read_bytes() == kept                 # the table's record untouched
    (tmp_path / "b").mkdir()                                  # another list of the same name: its own folder
    (tmp_path / "b" / "other.txt").write_text("".join((easy / "val.txt").read_text().splitlines(True)[:2]))
    assert main(["evaluate", str(run), "--list", str(tmp_path / "b" / "other.txt"), "--quiet"]) == 0
    assert sorted(p.name for p in run.glob("eval_*")) == ["eval_1x1", f"eval_1x1_other-{tag}", "eval_1x1_other-" +
                                                          hashlib.sha256((tmp_path / "b" / "other.txt").read_bytes()).hexdigest()[:8],
                                                          "eval_1x1_rescored-score-of-1x1"]
    capsys.readouterr()
    assert main(["evaluate", str(run), "--quiet"]) == 0           # the same evaluation again (a stop after eval.json)
    assert "already evaluated" in capsys.readouterr().out and (run / "eval_1x1" / "eval.json").read_bytes() == kept
    assert main(["evaluate", str(run), "--average", "score", "--quiet"]) == 2   # another one there: never replaced
    err = capsys.readouterr().err
    assert "exists (an evaluation is never replaced)" in err
    assert len(err.strip().splitlines()) == 1 and (run / "eval_1x1" / "eval.json").read_bytes() == kept
    (tmp_path / "broken.txt").write_text("missing.mp4 0\n")   # a failed evaluation leaves no folder behind
    assert main(["evaluate", str(run), "--views", "1x2", "--list", str(tmp_path / "broken.txt")]) != 0
    assert not list(run.glob("eval_1x2*")) and not list(tmp_path.rglob("*.lock"))
    many = tmp_path / "many.txt"                              # SIGTERM mid-evaluation: nothing left either
    many.write_text((easy / "val.txt").read_text() * 50)
    proc = subprocess.Popen(["pst", "evaluate", str(run), "--list", str(many), "--out", str(tmp_path / "term")],
                            env=env_with_venv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (tmp_path / "term").exists() and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 143, proc.stderr.read()
    assert "interrupted (SIGTERM)" in proc.stderr.read()
    assert not (tmp_path / "term").exists() and not list(tmp_path.rglob("*.lock"))
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    capsys.readouterr()
    assert main(["evaluate", str(run), "--out", str(blocker / "sub")]) == 2
    err = capsys.readouterr().err
    assert f"--out {blocker / 'sub'}: cannot write there" in err and len(err.strip().splitlines()) == 1


def test_labels_are_checked_against_the_classes_before_any_step(easy, tmp_path, capsys):
    lst = tmp_path / "train.txt"
    lines = (easy / "train.txt").read_text().splitlines()
    lst.write_text("\n".join(lines[:5] + [lines[5].rsplit(" ", 1)[0] + " 4"] + lines[6:]) + "\n")   # 4 classes: 0..3
    r = _short(easy)
    r["data"]["train_list"] = str(lst)
    with pytest.raises(ValueError, match=rf"{lst}:6: label 4 is outside 0..3 \(the classes file has 4 classes\)"):
        train(r, tmp_path / "run")
    assert not (tmp_path / "run").exists()
    assert main(["data", "validate", str(easy), str(lst), "--classes", str(easy / "classes.txt"),
                 "--out", str(tmp_path / "bad.tsv")]) == 2
    assert f"{lst}:6: label 4 is outside 0..3" in capsys.readouterr().err


def _truncated_video(path):
    """A download cut at a packet boundary: its index (moov, in front with faststart) still claims 16 frames,
    decord opens it as a 10-frame video without a complaint."""
    from pst.datasets.synthetic import SynthConfig, render_clip

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w", format="mp4", options={"movflags": "faststart"}) as c:
        s = c.add_stream("libx264", rate=8, options={"threads": "1"})
        s.width, s.height, s.pix_fmt = 64, 64, "yuv420p"
        for frame in render_clip(0, 3, SynthConfig(pairs=2, frames=16, size=64, fps=8)):
            for p in s.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    with av.open(str(path)) as c:
        starts = sorted(p.pos for p in c.demux(video=0) if p.pos is not None and p.pos >= 0)
    path.write_bytes(path.read_bytes()[:starts[10]])
    return path


def test_a_truncated_video_is_reported_by_validate_and_counted_by_training_and_test(easy, tmp_path, capsys):
    cut = _truncated_video(tmp_path / "videos" / "cut.mp4")
    (tmp_path / "list.txt").write_text(f"{cut} 0\n")
    s = validate(tmp_path, tmp_path / "list.txt", progress=False, classes=easy / "classes.txt")
    assert s["truncated"] == 1 and s["bad"] == 1
    reason = (tmp_path / "bad_videos.tsv").read_text().splitlines()[1]
    assert "truncated at 1.25 of 2.00 seconds (10 frames decode)" in reason
    # without data.bad_videos it is used as it is (10 frames) but counted: in every training epoch's row and in the
    # evaluation
    lines = (easy / "train.txt").read_text().splitlines()[:7] + [f"{cut} 0"]
    (tmp_path / "train.txt").write_text("\n".join(lines) + "\n")
    r = _short(easy)
    r["data"]["train_list"] = str(tmp_path / "train.txt")
    r["data"]["val_list"] = str(tmp_path / "list.txt")
    r["data"]["sampling"] = {"mode": "dense", "clip_len": 6, "frame_interval": 2}   # reads frames 0..10: the
    r["train"]["global_batch"] = 8                                                   # 12-frame videos whole, the
    train(r, tmp_path / "run")                                                       # cut one (10) looping
    row = json.loads((tmp_path / "run" / "metrics.json").read_text())[-1]
    assert row["partial_videos"] == 1 and row["unreadable_videos"] == 0 and row["looped_videos"] == 1
    assert main(["evaluate", str(tmp_path / "run"), "--views", "1x1", "--quiet"]) == 0, capsys.readouterr().err
    assert f"1 videos are shorter than the test clip (e.g. {cut})" in capsys.readouterr().out
    report = json.loads((tmp_path / "run" / "eval_1x1" / "eval.json").read_text())
    assert report["videos_partial"] == 1 and report["partial"] == [str(cut)] and report["videos_evaluated"] == 1
    assert report["videos_looped"] == 1 and report["looped"] == [str(cut)]
    (tmp_path / "whole.txt").write_text("".join((easy / "val.txt").read_text().splitlines(True)[:3]))
    whole = evaluate_run(tmp_path / "run", list_file=tmp_path / "whole.txt", out=tmp_path / "whole")
    assert whole["videos_evaluated"] == 3 and whole["videos_looped"] == 0 and whole["looped"] == []


def test_a_video_cut_inside_a_packet_is_named_by_us_not_by_ffmpeg(tmp_path, capfd):
    from pst.data.video import open_reader

    whole = _truncated_video(tmp_path / "t.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole[:len(whole) * 2 // 3 + 7])               # mid-packet: FFmpeg says "partial file"
    with pytest.raises(Exception):
        reader = open_reader(cut, "decord")
        reader.get(range(reader.num_frames))
    assert "partial file" not in capfd.readouterr().err           # the dataset names and counts it instead


@pytest.mark.parametrize("args, expected", [
    (["flops", "deit_s_tpz"], "model: unknown 'deit_s_tpz'"),
    (["flops", "deit_s_tps", "--frames", "0"], "argument --frames: must be >= 1"),
    (["evaluate", "nowhere", "--max-views", "0"], "argument --max-views: must be >= 1"),
    (["train", "--config", "{bad json", "--out", "x"], "recipe: inline JSON does not parse"),
])
def test_everyday_mistakes_are_one_line(args, expected, tmp_path, env_with_venv):
    out = _pst(args, env_with_venv, cwd=tmp_path)
    assert out.returncode == 2 and expected in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert len([ln for ln in out.stderr.splitlines() if "error" in ln]) == 1


def test_recipe_yaml_syntax_error_and_model_option_typo(easy, tmp_path, env_with_venv, capsys):
    broken = tmp_path / "recipe.yaml"
    broken.write_text("data: {root: [unclosed\n")
    out = _pst(["train", "--config", str(broken), "--out", str(tmp_path / "run")], env_with_venv)
    assert out.returncode == 2 and out.stderr.startswith("pst train: error:") and "Traceback" not in out.stderr
    ok = tmp_path / "ok.yaml"
    ok.write_text(yaml.safe_dump(_short(easy)))
    capsys.readouterr()
    assert main(["train", "--config", str(ok), "--out", str(tmp_path / "run"), "--set", "model.kwargs.patern=C"]) == 2
    err = capsys.readouterr().err
    assert "does not accept these options" in err and "patern" in err
    assert not (tmp_path / "run").exists()
    debug = _pst(["--debug", "train", "--config", str(broken), "--out", str(tmp_path / "run")], env_with_venv)
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_the_same_recipe_on_other_data_is_another_run(easy, tmp_path):
    """Regenerated data (here: synth.json naming another encoder) under an unchanged recipe: the finished run is
    refused, or moved aside whole and trained afresh; an unchanged set keeps it."""
    import shutil

    data = tmp_path / "data"
    shutil.copytree(easy, data)
    r = _short(data)
    run = tmp_path / "run"
    train(r, run)
    stamp = (run / "final.safetensors").stat().st_mtime_ns
    train(r, run)                                                      # same data: nothing to do
    assert (run / "final.safetensors").stat().st_mtime_ns == stamp
    summary = json.loads((data / "synth.json").read_text())
    (data / "synth.json").write_text(json.dumps({**summary, "encoder": {"crf": "23"}}))
    with pytest.raises(ValueError, match=r"another recipe or data \(data: [0-9a-f]{16} -> [0-9a-f]{16}\)"):
        train(r, run)
    train(r, run, restart_on_change=True)
    (old,) = (tmp_path / "run.archived").iterdir()
    assert "data:" in (old / "ARCHIVED.txt").read_text() and (old / "final.safetensors").exists()
    assert json.loads((run / "env.json").read_text())["data"] != json.loads((old / "env.json").read_text())["data"]


def test_predict_scores_a_video_as_its_evaluation_does_and_refuses_bad_input_in_one_line(easy, tmp_path, capsys):
    import csv

    from PIL import Image

    run = tmp_path / "run"
    r = _short(easy, sampling=DENSE)                     # several clips: predict takes the evaluation's views
    train(r, run)
    evaluate_run(run, views="1x2")
    with open(run / "eval_1x2" / "predictions.csv", newline="") as fh:
        first = next(csv.DictReader(fh))
    video = easy / first["path"]
    capsys.readouterr()
    assert main(["predict", str(video), "--run", str(run), "--cam", str(tmp_path / "cam.png")]) == 0
    out = capsys.readouterr().out.splitlines()
    names = (easy / "classes.txt").read_text().split()
    assert out[0].startswith(f"{video}: {names[int(first['pred'])]} {100 * float(first['prob']):.1f}%")
    assert out[1].startswith("1x2 views (prob)") and (tmp_path / "cam.png").stat().st_size > 0
    frames = tmp_path / "frames"                         # a frame folder, named as the run's frames are
    frames.mkdir()
    with av.open(str(video)) as c:
        for k, f in enumerate(c.decode(video=0)):
            Image.fromarray(f.to_ndarray(format="rgb24")).save(frames / f"{k + 1:05d}.jpg", quality=95)
    assert main(["predict", str(frames), "--run", str(run), "--views", "1x1"]) == 0
    assert capsys.readouterr().out.startswith(f"{frames}: ")
    (tmp_path / "notes.mp4").write_text("not a video")
    untrained = tmp_path / "untrained"
    untrained.mkdir()
    (untrained / "config.yaml").write_text((run / "config.yaml").read_text())
    for args, said in ((["predict", str(tmp_path / "notes.mp4"), "--run", str(run)], "notes.mp4: cannot be read as "
                        "a video or frame folder (InvalidDataError"),
                       (["predict", str(tmp_path), "--run", str(run)], "a folder without frames named as the run's"),
                       (["predict", str(video), "--run", str(untrained)], "final.safetensors: the run has not "
                        "finished training")):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert said in err and len(err.strip().splitlines()) == 1, err


def test_an_evaluation_is_checked_against_its_run_and_weights_before_it_is_tabled_or_recorded(easy, tmp_path):
    from safetensors.torch import load_file, save_file

    from pst.engine.checkpoint import load_weights
    from pst.report.records import record
    from pst.report.study_table import check_evaluation

    runs = {}
    for seed in (0, 1):
        runs[seed] = tmp_path / f"run{seed}"
        train({**_short(easy), "train": {**_short(easy)["train"], "seed": seed}}, runs[seed])
        evaluate_run(runs[seed])
    run, other = runs[0], runs[1]
    path = run / "eval_1x1" / "eval.json"
    good = json.loads(path.read_text())
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    check_evaluation(good, path, str(run), "1x1", cfg)                        # its own: fine
    for edit, said in (({"top1": 99.0}, "is not what its predictions.csv says"),
                       ({"views": "3x4"}, "an evaluation at '3x4' views, not 1x1"),
                       ({"list": "/nowhere/val.txt"}, "an evaluation on '/nowhere/val.txt'"),
                       ({"run": str(other)}, f"the evaluation of '{other}', not of this run"),
                       ({"weights": json.loads((other / "eval_1x1" / "eval.json").read_text())["weights"]},
                        "scored other weights than the run's final weights"),
                       ({"twin_top1": "n/a"}, "twin_top1 'n/a' is not a percentage")):
        with pytest.raises(ValueError, match=re.escape(said)):
            check_evaluation({**good, **edit}, path, str(run), "1x1", cfg)
    from pst.engine.run import check_run_files
    from pst.report.per_class import confusions

    preds = other / "eval_1x1" / "predictions.csv"                         # per-class counts edited predictions
    kept = preds.read_bytes()
    lines = kept.decode().splitlines(keepends=True)
    preds.write_text("".join(lines[:-1]))                                  # a video dropped from them
    with pytest.raises(ValueError, match="is not what its predictions.csv says"):
        confusions({"seeds": [1], "rows": [{"variant": "v", "views": "1x1", "runs": [str(other)]}]})
    preds.write_bytes(kept)
    copy = tmp_path / "copy"                                                 # another run's final weights, copied
    shutil.copytree(run, copy)                                              # or linked in, are not this run's
    for place in (lambda f: shutil.copy(other / "final.safetensors", f),
                  lambda f: f.symlink_to(other / "final.safetensors")):
        (copy / "final.safetensors").unlink()
        place(copy / "final.safetensors")
        with pytest.raises(ValueError, match="final.safetensors: not the weights this run finished with"):
            check_run_files(copy)
    summary = json.loads((run / "train.json").read_text())                 # an emptied seal is not a seal
    for edited in ({**summary, "sealed": {}}, {k: v for k, v in summary.items() if k != "sealed"}):
        (copy / "train.json").write_text(json.dumps(edited))
        with pytest.raises(ValueError, match="its 'sealed' is not the SHA-256 of the run's"):
            check_run_files(copy)
    shutil.rmtree(copy)                                                     # another run's checkpoint, copied into
    shutil.copytree(run, copy)                                              # an unfinished run: not resumed
    for f in ("final.safetensors", "train.json"):
        (copy / f).unlink()
    shutil.rmtree(copy / "checkpoints")
    shutil.copytree(other / "checkpoints", copy / "checkpoints")
    with pytest.raises(ValueError, match="its newest checkpoint is of another run"):
        train({**_short(easy), "train": {**_short(easy)["train"], "seed": 0}}, copy)
    (run / "metrics.csv").write_text("x,y\n")                                 # a damaged file is not recorded
    with pytest.raises(ValueError, match="metrics.csv: its epochs are not those of metrics.json"):
        record(run, ["1x1"], tmp_path / "rec")
    assert not (tmp_path / "rec").exists()
    from pst.io import FolderInUseError, locked

    with locked(tmp_path / "rec", "another pst record"):                   # one writer per record folder
        with pytest.raises(FolderInUseError, match="rec is in use by another pst record"):
            record(run, ["1x1"], tmp_path / "rec")
    # final weights: a digest-less header and NaN weights are refused, not evaluated or taken as finished
    final = run / "final.safetensors"
    tensors = load_file(str(final))
    save_file(tensors, str(final))                                            # no pst_sha256 in the header
    with pytest.raises(ValueError, match="no SHA-256 in its header"):
        load_weights(final)
    from pst.engine.checkpoint import save_weights

    first = next(k for k, v in tensors.items() if v.is_floating_point())
    save_weights({**tensors, first: tensors[first].clone().fill_(float("nan"))}, final)
    with pytest.raises(ValueError, match=f"{first} holds NaN or infinite values"):
        train(_short(easy), run)
    link = tmp_path / "link"                                                  # a link to a run: refused, not moved
    link.symlink_to(other)
    with pytest.raises(ValueError, match="a symbolic link"):
        train({**_short(easy), "optim": {"lr": 0.002}}, link, restart_on_change=True)
    assert link.is_symlink() and (other / "final.safetensors").is_file()
    from pst.report.study_table import MissingRunsError, collect

    (other / "train.json").write_text("{}\n")                          # an emptied summary: not a finished run
    spec = {"name": "x", "seeds": [1], "rows": [{"variant": "v", "views": "1x1", "runs": [str(other)]}]}
    with pytest.raises(MissingRunsError, match="train.json: .*finished run's summary"):
        collect(spec)
    with pytest.raises(ValueError, match="train.json: .*finished run's summary"):
        train({**_short(easy), "train": {**_short(easy)["train"], "seed": 1}}, other)


def test_a_closed_terminal_stops_like_sigterm_unless_nohup_ignores_it():
    """SIGHUP: training stops at a step boundary with a checkpoint (the flag StopSignals sets), another command
    raises Terminated with the shell's 129; under nohup (SIGHUP ignored) neither takes the signal over."""
    from pst.engine.run import StopSignals, Terminated, terminate_raises

    before, interrupt = signal.getsignal(signal.SIGHUP), signal.getsignal(signal.SIGINT)
    try:
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        with StopSignals() as stop:
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(0.05)
        assert stop.received == "SIGHUP"
        with pytest.raises(Terminated) as raised:
            with terminate_raises():
                os.kill(os.getpid(), signal.SIGHUP)
                time.sleep(1)
        assert raised.value.exit_code == 129
        assert signal.getsignal(signal.SIGHUP) == signal.SIG_DFL          # restored
        signal.signal(signal.SIGHUP, signal.SIG_IGN)                       # nohup
        with terminate_raises(), StopSignals() as stop:
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(0.05)
        assert stop.received is None
        signal.signal(signal.SIGINT, signal.default_int_handler)          # as at a terminal (xdist's workers ignore it)
        with pytest.raises(KeyboardInterrupt):          # the first Ctrl-C: a flag, as SIGTERM; a second: raised
            with StopSignals() as stop:                 # and remembered
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.05)
                assert stop.received == "SIGINT" and not stop.interrupted
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(1)
        assert stop.interrupted and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGHUP, before)
        signal.signal(signal.SIGINT, interrupt)


def test_a_loader_worker_signalled_before_its_init_survives():
    """SIGTERM reaching a loader worker between its fork and its worker_init_fn (SLURM signals every process of a
    job; seen in CI under load): torch's worker dies of one not from its parent, and training crashed instead of
    stopping with a checkpoint. The workers start with the stop signals blocked; the init ignores them first."""
    from torch.utils.data import DataLoader

    from pst.engine.run import ignore_stop_signals, starting_workers

    def late(worker_id):                        # the window between the fork and the init, made wide
        time.sleep(1)
        ignore_stop_signals(worker_id)

    before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    batches = starting_workers(DataLoader(list(range(4)), batch_size=2, num_workers=1, worker_init_fn=late))
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == before           # this process's mask as it was
    for worker in batches._workers:
        os.kill(worker.pid, signal.SIGTERM)
    assert [b.tolist() for b in batches] == [[0, 1], [2, 3]]


def test_a_crash_with_loader_workers_running_exits(tmp_path):
    """Loader workers ignore SIGTERM, which multiprocessing's exit sends its daemon children before waiting for them:
    a training that crashed mid-epoch waited forever (CI17, 45 minutes). They get SIGKILL at exit instead."""
    script = tmp_path / "crash.py"
    script.write_text(
        "from torch.utils.data import DataLoader\n"
        "from pst.engine.run import ignore_stop_signals, starting_workers\n"
        "kept = []\n"
        "def epoch():\n"
        "    batches = starting_workers(DataLoader(list(range(100)), batch_size=2, num_workers=1,\n"
        "                                          worker_init_fn=ignore_stop_signals))\n"
        "    next(batches)\n"
        "    kept.append(batches)        # as a traceback's frames keep a crashed loop's iterator\n"
        "    raise RuntimeError('a crash mid-epoch')\n"
        "epoch()\n")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and out.stderr.strip().splitlines()[-1] == "RuntimeError: a crash mid-epoch", out.stderr


def test_a_late_signal_keeps_what_finished_and_a_killed_writer_leaves_no_debris(tmp_path):
    """A stop that lands after an evaluation's eval.json (written last) keeps that finished evaluation; the
    temporary files of a writer killed with SIGKILL go when the folder's next writer takes its lock; a full disk is
    named by the file being written, not the source a copy reads."""
    import errno

    from pst.engine.evaluate import _new_evaluation
    from pst.io import locked
    from pst.io import write_error

    for late in (True, False):
        folder = tmp_path / f"eval_{late}"
        with pytest.raises(KeyboardInterrupt):
            with _new_evaluation(folder):
                (folder / "predictions.csv").write_text("video,label,pred\n")
                if late:
                    (folder / "eval.json").write_text("{}")
                raise KeyboardInterrupt
        assert folder.is_dir() == late                  # finished: kept; unfinished: nothing half-written
    folder = tmp_path / "run"                            # a writer killed mid-write left its temporaries
    (folder / "eval_1x1").mkdir(parents=True)
    debris = [folder / ".final.safetensors.4242.x1.tmp", folder / "eval_1x1" / ".scores.npz.4243.x2.tmp"]
    for f in debris + [folder / "notes.tmp", folder / "train.log"]:
        f.write_text("half")
    with locked(folder, "the next writer"):              # its next writer, alone there, removes them
        assert not any(f.exists() for f in debris)
    assert sorted(p.name for p in folder.rglob("*")) == ["eval_1x1", "notes.tmp", "train.log"]
    full = write_error(OSError(errno.ENOSPC, "No space left on device", "run/config.yaml"), tmp_path / "rec" / "x")
    assert full.filename == str(tmp_path / "rec" / "x") and "free space there" in full.strerror


def test_a_run_on_a_read_only_mount_is_read_without_a_lock_and_never_written(tmp_path):
    """Evaluating a run from another's results (a read-only mount): the reader cannot make the run's lock
    file, so it reads without one (a lock file that is there it takes read-only); a writer is refused in one line.
    A real read-only bind mount in a mount namespace of its own (`unshare -m`, as root)."""
    run = tmp_path / "shared" / "run"
    run.mkdir(parents=True)
    held = tmp_path / "shared" / "held"
    held.mkdir()
    (tmp_path / "shared" / "held.lock").write_text("")        # a lock file some earlier reader left
    probe = ("import errno, sys\nfrom pst.io import locked\n"
             f"for folder in ({str(run)!r}, {str(held)!r}):\n"
             "    with locked(folder, 'pst evaluate', shared=True):\n        print('read', folder)\n"
             "try:\n"
             f"    with locked({str(run)!r}, 'pst train'):\n        print('wrote')\n"
             "except OSError as err:\n    print('refused', errno.errorcode[err.errno])\n")
    shared = tmp_path / "shared"
    mount = f"mount --bind -o ro {shared} {shared}"
    can = subprocess.run(["unshare", "-m", "sh", "-c", mount], capture_output=True, text=True)
    if can.returncode:
        pytest.skip(f"no read-only bind mount here ({can.stderr.strip()[:200]})")
    out = subprocess.run(["unshare", "-m", "sh", "-c", f"{mount} && {sys.executable} -c \"$PROBE\""],
                         env={**os.environ, "PROBE": probe}, capture_output=True, text=True)
    assert out.stdout.split("\n") == [f"read {run}", f"read {held}", "refused EROFS", ""], out.stderr
    assert sorted(p.name for p in shared.iterdir()) == ["held", "held.lock", "run"]        # nothing made or removed


def test_a_lock_whose_holder_has_ended_says_a_process_it_started_holds_it(tmp_path):
    """A lock file's holder line names a pid that has ended, yet the lock is held: a process it started inherited
    the lock (a pool's worker); the refusal says so and how to find it, instead of naming a process that is gone."""
    import fcntl
    import socket

    from pst.io import FolderInUseError, locked

    ended = subprocess.Popen(["true"])
    ended.wait()
    fd = os.open(tmp_path / "set.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)                          # another open file: as a forked worker holds it
        os.write(fd, f"pst data synth (pid {ended.pid} on {socket.gethostname()})\n".encode())
        with pytest.raises(FolderInUseError, match=rf"set is in use by pst data synth \(pid {ended.pid} on .+\), "
                                                   rf"which has ended: a process it started holds the lock "
                                                   rf"\(`fuser -v {tmp_path}/set.lock` names it\); wait"):
            with locked(tmp_path / "set", "pst data synth"):
                pass
    finally:
        os.close(fd)
    with locked(tmp_path / "run", "pst evaluate", shared=True):     # a reader writes no name: it is still named
        with pytest.raises(FolderInUseError, match=r"run is in use by a reader \(an evaluation of a run"):
            with locked(tmp_path / "run", "pst train"):
                pass


def test_files_replaced_together_are_never_half_old_half_new(tmp_path, monkeypatch):
    """A record, a table's .md/.csv/.json: a stop signal arriving while they replace their targets lands after the
    last one (trial 10: a SIGTERM at a record's third file left three new files beside five old ones)."""
    from pst import io

    files = [tmp_path / name for name in ("a.json", "a.md", "a.csv")]
    for f in files:
        f.write_text("old")
    replace, calls = os.replace, []

    def replace_then_stop(src, dst):
        replace(src, dst)
        calls.append(dst)
        if len(calls) == 1:
            os.kill(os.getpid(), signal.SIGTERM)             # a stop request between two of them

    class Stopped(Exception):
        pass

    def stop(*_):
        raise Stopped

    previous = signal.signal(signal.SIGTERM, stop)
    monkeypatch.setattr(io.os, "replace", replace_then_stop)
    try:
        with pytest.raises(Stopped):
            io.write_texts({f: "new" for f in files})
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert [f.read_text() for f in files] == ["new"] * 3 and len(calls) == 3
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_killed_writers_temporaries_go_when_the_files_are_next_written(tmp_path):
    """A table's files are written without a folder lock (its jobs share one folder): the temporaries of a writer
    SIGKILLed mid-write (no cleanup runs) are swept by the next write of the same files, not left in results/."""
    target = tmp_path / "t.md"
    writer = subprocess.Popen([sys.executable, "-c", "import sys, time; from pst.io import replace_together; "
                               "replace_together({sys.argv[1]: lambda tmp: time.sleep(600)})", str(target)])
    try:
        deadline = time.time() + 60
        while not list(tmp_path.glob(".t.md.*.tmp")) and time.time() < deadline:
            time.sleep(0.05)
        assert list(tmp_path.glob(f".t.md.{writer.pid}.*.tmp"))
    finally:
        writer.kill()
        writer.wait()
    (tmp_path / ".other.md.1.x.tmp").write_text("")      # another file's, and a running process's: kept
    from pst.io import write_texts

    write_texts({target: "new"})
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.md.1.x.tmp", "t.md"]


def test_runs_moved_aside_within_one_second_each_keep_their_archive(tmp_path):
    from pst.engine.run import move_aside

    run, moved = tmp_path / "run", []
    for weights in (b"first", b"second"):                # two recipe changes in one second (trial 10: ENOTEMPTY)
        run.mkdir()
        (run / "final.safetensors").write_bytes(weights)
        moved.append(move_aside(run, "optim.lr: 0.1 -> 0.2"))
    assert moved[0] != moved[1] and moved[0].parent == moved[1].parent
    assert [(m / "final.safetensors").read_bytes() for m in moved] == [b"first", b"second"]


def test_a_dataset_folder_is_known_by_its_lists_not_by_a_file_named_synth_json(tmp_path):
    """A report never goes into a dataset's folder; a scratch folder holding some synth.json is not one (stop 46)."""
    from pst.layout import LISTS, SYNTH_RECORD, owner

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (scratch / SYNTH_RECORD).write_text("{}\n")
    assert owner(scratch / "table.md") is None
    for name in LISTS[1:]:                                     # val.txt and classes.txt: a dataset's lists
        (scratch / name).write_text("")
    assert owner(scratch / "table.md") == f"inside the dataset {scratch.resolve()}"
