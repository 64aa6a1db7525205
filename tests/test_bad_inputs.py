"""Bad inputs a newcomer tries, one table over the subcommands (#26): each is refused with exit 2 in one line on
stderr that names the file, key or value and what is valid, with no traceback, and the folder it ran in is left
byte for byte as it was (nothing made, nothing removed). In-process through `pst.cli.main`: what the console
script runs, without a Python start per case."""
import functools
import json
import os

import pytest
import yaml

from conftest import ROOT
from engine_helpers import easy_set, tiny_recipe
from pst.cli import main


@pytest.fixture(scope="module")
def easy(tmp_path_factory):
    return easy_set(tmp_path_factory.mktemp("easy"))


def _tree(root):
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


@functools.lru_cache(maxsize=1)
def _finished_weights(easy) -> bytes:
    """The final weights of a tiny run (untrained: what cam needs is a finished run's files)."""
    from pst.engine.build import build_model
    from pst.engine.checkpoint import save_weights
    from pst.engine.config import resolve

    out = easy.parent / "weights.safetensors"
    save_weights(build_model(resolve(tiny_recipe(easy)), None).state_dict(), out)
    return out.read_bytes()


def _small_files(run):
    """A finished run's small files as training writes them (one epoch)."""
    (run / "metrics.json").write_text('[{"epoch": 1, "loss": 1.0}]\n')
    (run / "metrics.csv").write_text("epoch,loss\n1,1.0\n")
    (run / "env.json").write_text('{"torch": "2"}\n')
    (run / "train.json").write_text('{"epochs": 1, "final": {"epoch": 1}}\n')


def _setup(tmp_path, easy):
    (tmp_path / "mine" / "videos").mkdir(parents=True)
    (tmp_path / "mine" / "videos" / "holiday.mp4").write_bytes(b"a user's own video")
    (tmp_path / "mine" / "train.txt").write_text("videos/holiday.mp4 0\n")
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(tiny_recipe(easy)))
    (tmp_path / "twice").mkdir()
    (tmp_path / "twice" / "classes.txt").write_text("up\ndown\nup\n")
    (tmp_path / "twice" / "val.txt").write_text("a.mp4 0\n")
    (tmp_path / "broken.yaml").write_text("data: {root: [unclosed\n")
    (tmp_path / "twice.yaml").write_text("optim: {lr: 0.001}\noptim: {lr: 0.1}\n")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    (tmp_path / "ok").mkdir()
    (tmp_path / "ok" / "classes.txt").write_text("up\ndown\n")
    (tmp_path / "ok" / "val.txt").write_text("a.mp4 0\n")
    (tmp_path / "ok" / "val9.txt").write_text("a.mp4 9\n")
    (tmp_path / "ok" / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    (tmp_path / "ok" / "list.json").write_text("[1]")
    (tmp_path / "ok" / "empty.txt").write_text("")
    (tmp_path / "ok" / "half.json").write_text('{"model": "pst_t", "gflops": "many"}')
    (tmp_path / "notes.md").write_text("# my notes\n")
    (tmp_path / "ok" / "alien.json").write_text('{"model": "resnet50", "frames": 8, "size": 224, "gflops": 4.1, '
                                                '"params_m": 25.6}')
    for name, gflops in (("nan", "NaN"), ("one", "1.5"), ("two", "2.5")):
        (tmp_path / "ok" / f"{name}.json").write_text(f'{{"model": "pst_t", "frames": 8, "size": 224, "gflops": '
                                                      f'{gflops}, "params_m": 28.5}}')
    (tmp_path / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n a user's photo")
    os.mkfifo(tmp_path / "fifo.mp4")          # a reader would block on it
    (tmp_path / "rec").mkdir()                # the record of another run
    (tmp_path / "rec" / "record.json").write_text('{"run": "elsewhere", "files": {}}')
    (tmp_path / "ok" / "other.json").write_text('{"title": "other — profile p", "rows": []}')
    (tmp_path / "ok" / "study.md").write_text("# Supplement Table 1 — profile synthetic\n\n| a |\n")
    (tmp_path / "ok" / "study.json").write_text('{"title": "Supplement Table 1 — profile synthetic", "rows": []}')
    (tmp_path / "listrun").mkdir()
    (tmp_path / "listrun" / "config.yaml").write_text("- 1\n")
    moved = tiny_recipe(easy)                  # a run whose dataset is no longer where it was trained from
    moved["data"]["root"] = str(tmp_path / "gone")
    (tmp_path / "moved").mkdir()
    (tmp_path / "moved" / "config.yaml").write_text(yaml.safe_dump(moved))
    (tmp_path / "done").mkdir()                # a finished run (its config, final weights and small files)
    (tmp_path / "done" / "config.yaml").write_text(yaml.safe_dump(tiny_recipe(easy)))
    (tmp_path / "done" / "final.safetensors").write_bytes(_finished_weights(easy))
    _small_files(tmp_path / "done")
    (tmp_path / "emptied").mkdir()             # the same, its summary emptied: not a finished run
    for f in (tmp_path / "done").iterdir():
        (tmp_path / "emptied" / f.name).write_bytes(f.read_bytes())
    (tmp_path / "emptied" / "train.json").write_text("{}\n")
    deeper = tiny_recipe(easy)                 # final weights of one model beside the config of another
    deeper["model"]["kwargs"]["depth"] = 3
    (tmp_path / "mixed").mkdir()
    (tmp_path / "mixed" / "config.yaml").write_text(yaml.safe_dump(deeper))
    (tmp_path / "mixed" / "final.safetensors").write_bytes(_finished_weights(easy))
    _small_files(tmp_path / "mixed")
    (tmp_path / "ok" / "neg.txt").write_text("a.mp4 -1\n")
    (tmp_path / "held.lock").write_text("my notes on the held-out clips\n")      # a user's file, at a lock's path
    (tmp_path / "ok" / "m1.json").write_text('{"title": "t — profile p", "metrics": {}}')
    (tmp_path / "ok" / "trunc.json").write_text('{"name": ')
    (tmp_path / "ok" / "spaced.txt").write_text("my clips/a.mp4 0\n")
    (tmp_path / "ok" / "lists").mkdir()                   # a list away from its classes, which are in the root
    (tmp_path / "ok" / "lists" / "val9.txt").write_text("a.mp4 9\n")
    (tmp_path / "cut.safetensors").write_bytes(_finished_weights(easy)[:3000])       # a copy cut short
    (tmp_path / "ok" / "tab.json").write_text('{"title": "t — profile p", "rows": [{"model": "w", "seeds": 1}]}')
    (tmp_path / "sealed").mkdir()              # a finished run sealed by its train.json, then edited by hand
    for f in (tmp_path / "done").iterdir():
        (tmp_path / "sealed" / f.name).write_bytes(f.read_bytes())
    from pst.engine.run import seal
    (tmp_path / "sealed" / "train.json").write_text(json.dumps({"epochs": 1, "final": {"epoch": 1},
                                                                "sealed": seal(tmp_path / "sealed")}))
    (tmp_path / "sealed" / "metrics.json").write_text('[{"epoch": 1, "loss": 0.5}]\n')
    (tmp_path / "ok" / "empty.mp4").write_bytes(b"")                       # decord prints its own line on fd 2
    (easy / "junk_bad.tsv").write_text("these are my notes\n")    # not validate's list (in the data's folder)
    # trial 11 (#26)
    for name, text in (("spaces", "up\nup \n"), ("blank", "up\n\ndown\n")):
        (tmp_path / name).mkdir()              # classes twice but for a space; a blank line renumbering the rest
        (tmp_path / name / "classes.txt").write_text(text)
        (tmp_path / name / "val.txt").write_text("a.mp4 0\n")
    (tmp_path / "ok" / "dirs.txt").write_text("videos 0\n")           # a folder where a video file goes
    for name, row in (("probe0", '"clips_per_s": 100, "tflops": 0'), ("probeinf", '"clips_per_s": 1e400, "tflops": 5'),
                      ("probestr", '"clips_per_s": "fast", "tflops": 5')):
        (tmp_path / "ok" / f"{name}.json").write_text(f'{{"cuda": true, "device": "H100", "rows": [{{"model": "pst_t", '
                                                      f'"dtype": "bf16", "mode": "eager", {row}}}]}}')
    (tmp_path / "ok" / "proberow.json").write_text('{"cuda": true, "device": "H100", "rows": [5]}')
    (tmp_path / "otherpage.md").write_text("# Results\n\nGenerated by the workflow (`snakemake`, profile `synthetic-full`); "
                                      "do not edit by hand.\n")      # another profile's results page
    (tmp_path / "tabs").mkdir()                                       # a study table, as `pst table study` wrote it
    study_json = {"title": "T — profile p", "table": {"kind": "study", "name": "t1", "profile": "p"}, "rows": [],
                  "metrics": {}}
    (tmp_path / "tabs" / "t1.json").write_text(json.dumps(study_json))
    (tmp_path / "tabs" / "t1.md").write_text("# T — profile p\n")
    (tmp_path / "prof" / "tables").mkdir(parents=True)               # a profile's results folder
    (tmp_path / "prof" / "metrics.json").write_text('{"t": {}}\n')
    for name, (file, text) in {"badenv": ("env.json", "[1]\n"), "badcfg": ("config.yaml", "data: {root: [\n"),
                                   "cutcfg": ("config.yaml", "data:\n  train:\n    size\n")}.items():
        (tmp_path / name).mkdir()              # a run with one of its records damaged by hand
        (tmp_path / name / "config.yaml").write_text(yaml.safe_dump(tiny_recipe(easy)))
        (tmp_path / name / file).write_text(text)


TRAIN = ["train", "--config", "recipe.yaml", "--out", "run"]
SPEC = {"name": "x", "title": "t", "published": None, "pretrain": "none", "paper_input": [16, 224], "profile": "p",
        "seeds": [0], "rows": [{"variant": "v", "model": "deit_s_tsm", "views": "1x1", "published_row": None,
                                "runs": ["done"]}]}          # a table's spec as the workflow writes it
CASES = [   # argv, what the one line must say
    (["data", "synth", "--out", "new", "--noise", "-5"], "noise and distractors: >= 0"),
    (["data", "synth", "--out", "mine"], "not written by pst data synth"),
    (["data", "synth", "--out", "s48", "--size", "48", "--pairs", "1", "--train-per-class", "1",
      "--val-per-class", "1", "--frames", "4"], "size: decord misreads H.264 frames 48 px wide"),
    (["data", "validate", "twice", "twice/val.txt"], "twice/classes.txt:3: class 'up' again (first on line 1)"),
    ([*TRAIN, "--set", "optim.betas=[0.9,"], "--set optim.betas: '[0.9,' is not a value"),
    ([*TRAIN, "--set", "train.deterministic=maybe"], "train.deterministic = 'maybe' is not valid: expected true or"),
    ([*TRAIN, "--set", "optim.lr=-1"], "optim.lr = -1 is not valid: expected a number > 0"),
    ([*TRAIN, "--set", "train.global_batch=0"], "train.global_batch = 0 is not valid: expected an integer > 0"),
    ([*TRAIN, "--set", "train.keep_finished=some"], "expected one of 'last', 'all', 'none'"),
    ([*TRAIN, "--set", "train.checkpoint_every=0"], "train.checkpoint_every = 0 is not valid: expected an integer > 0"),
    ([*TRAIN, "--set", "data.train.area=[0.9,0.1]"], "expected [low, high] fractions of the frame, 0 < low <= high"),
    ([*TRAIN, "--set", "data.root.x=1"], "--set data.root.x: data.root is a value"),
    ([*TRAIN, "--set", "data.val.num_clips=3"], "data.val.num_clips = 3 is not valid: data.sampling.mode 'uniform'"),
    (["compare", "HEAD", "HEAD~0"], "HEAD and HEAD~0 are one commit"),
    (["flops", "deit_s_2d", "--set", "pattern=A"], "model deit_s_2d: pattern does not apply to its temporal mode '2d'"),
    (["flops", "pst_t", "--set", "tps_stages=[1,1]"], "tps_stages = [1, 1] is not valid: expected stage numbers from"),
    (["flops", "pst_t", "--frames", "99999999"], "argument --frames: must be <= 1024 (the paper's clips have 8-32"),
    (["flops", "swin3d_t", "--set", "temporal_window=0"], "temporal_window = 0 is not valid: expected a whole number"),
    (["flops", "deit_s_tps", "--set", "pos_init_std=-1"], "pos_init_std = -1 is not valid: expected a number > 0"),
    ([*TRAIN, "--set", "model.kwargs.img_size=64"], "model.kwargs.img_size: set by the recipe's data.train.size"),
    (["data", "synth", "--size", "100000", "--out", "s"], "size: at most 1024 (the embedded set"),
    (["data", "synth", "--out", "ok"], "--out ok: a folder with other files (alien.json); choose an empty folder"),
    (["train", "--config", "/dev/null", "--out", "run"], "recipe /dev/null: not a regular file"),
    (["table", "study", "--spec", "/dev/null", "--out", "t"], "--spec /dev/null: not a regular file (a device, FIFO"),
    (["evaluate", "run", "--rescore", "--views", "2x1"], "--views: crops must be 1 or 3 and clips >= 1, got '2x1'"),
    (["train", "--config", "no\nsuch.yaml", "--out", "run"], "recipe no\\nsuch.yaml: no such file"),
    (["table", "flops", "ok/one.json", "--out", " "], "--out: an empty path; name the table's path"),
    (["train", "--config", "ok/binary.txt", "--out", "run"], "ok/binary.txt: not UTF-8 text"),
    ([*TRAIN, "--set", "optim.lr=1e30", "--set", "schedule.epochs=1", "--set", "schedule.warmup_epochs=0"],
     "the training loss is nan in epoch 1: training diverged"),
    (["pretrained", "pst_t", "--out", "notes.md"], "--out notes.md: exists; pretrained never overwrites a file"),
    (["evaluate", "done", "--out", "done"], "--out done: the run's own folder"),
    ([*TRAIN, "--set", "optim.lr=.inf"], "recipe: optim.lr = inf is not valid: expected a number > 0"),
    ([*TRAIN, "--set", "data.root=null"], "recipe: data.root = None is not valid: expected a path (text)"),
    ([*TRAIN, "--set", "data.test.short_side=-1"], "data.test.short_side = -1 is not valid: expected null or an"),
    ([*TRAIN, "--set", "schedule.by_epoch=maybe"], "schedule.by_epoch = 'maybe' is not valid: expected true or false"),
    ([*TRAIN, "--set", "data.bad_videos=gone.tsv"], "recipe data.bad_videos: "),
    ([*TRAIN, "--set", "train.global_batch=4096", "--set", "train.batch_per_device=4096"],
     "recipe: train.global_batch 4096 is more than the training list's"),
    (["train", "--config", "recipe.yaml", "--out", "badenv"], "badenv/env.json: not a run's environment record (a"),
    (["evaluate", "mixed"], "mixed/final.safetensors: not the weights of the model its config.yaml and classes"),
    ([*TRAIN, "--set", "data.bad_videos=junk_bad.tsv"], "junk_bad.tsv: not a list of bad videos written by `pst"),
    (["evaluate", "cutcfg"], "cutcfg/config.yaml: not a run's recipe as training wrote it (recipe: 'data.train' must"),
    (["evaluate", "badcfg"], "badcfg/config.yaml:2:1: the run's recipe is not valid YAML"),
    ([*TRAIN, "--set", "data.classes=train.txt"], "data.classes = 'train.txt' is not valid: it is data.train_list"),
    ([*TRAIN, "--set", "schedule.warmup_epochs=100"], "warmup_epochs = 100 is not valid: expected at most schedule.epo"),
    ([*TRAIN, "--set", "train.seed=100000000000000000000"], "expected an integer >= 0 and <= 4294967295"),
    ([*TRAIN, "--execution", "train.threads=100000"], "train.threads = 100000 is not valid: expected at most this no"),
    (["train", "--config", '{"optim": {"lr": 0.1, "lr": 0.2}}', "--out", "run"], "(key 'lr' given twice in one object)"),
    ([*TRAIN, "--execution", ""], "--execution: an empty value; give KEY=VALUE,... of execution settings"),
    ([*TRAIN, "--execution", "data.workers=100000"], "data.workers = 100000 is not valid: expected at most this node"),
    (["evaluate", "done", "--workers", "100000"], "--workers = 100000 is not valid: expected at most this node's"),
    (["train", "--config", "twice.yaml", "--out", "run"], "line 2, column 1 (key 'optim' given twice in one mapping)"),
    (["train", "--config", "recipe.yaml", "--out", ""], "--out: an empty path"),
    (["train", "--config", "recipe.yaml", "--out", "held"], "held.lock: exists and is not a lock pst wrote"),
    (["evaluate", "done", "--out", "held"], "held.lock: exists and is not a lock pst wrote (the lock of held/ goes"),
    # trial 9 (#26): a named file that is not there, a suffix not written, an input twice, an error's own words
    (["cost", "--gpu-probe", "nosuch.json"], "--gpu-probe nosuch.json: no such file; name the record benchmarks/gpu"),
    (["cost", "--gpu-probe", "notes.md"], "notes.md: not the GPU probe's record (JSONDecodeError: Expecting value: "),
    (["compare", "HEAD~1", "HEAD", "--curves", "fig.jpg"], "--curves fig.jpg: the figure is written as .png and .svg"),
    (["pretrained", "nosuch", "--out", "p.safetensors"], "pretrained nosuch: neither one of our models (deit_s_2d,"),
    (["pretrained", "pst_t", "--out", "done/p.pt"], "--out done/p.pt: inside the run "),
    (["table", "metrics", "ok/m1.json", "ok/m1.json", "--out", "m.json"], "ok/m1.json: a second table named 'm1'"),
    (["table", "flops", "nosuch.json", "--out", "fl"], "nosuch.json: no such file (expected a FLOPs record"),
    (["record", "done", "--views", "1x1", "1x1", "--out", "rec2"], "--views: 1x1 given twice; name each evaluation"),
    (["plot", "--spec", json.dumps(SPEC), "--table", "ok/study.json", "--out-dir", "notes.md/figs"],
     "figure notes.md/figs/x_curves.png: cannot write there (notes.md: notes.md is not a folder)"),
    (["report", "--out", "page.md", "--tables", "ok", "--profile", "synthetic"],
     "ok: a folder; name the page's tables"),
    (["data", "validate", "ok", "ok/val.txt", "--gather", "nosuch.tsv"], "--gather: nosuch.tsv: no such file"),
    (["data", "prepare", "diving48", "--root", "prep", "--gather", "x"], "--gather: expected a whole number, got 'x'"),
    (["evaluate", "done", "--rescore", "--from", "3x0"], "--from: crops must be 1 or 3 and clips >= 1, got '3x0'"),
    (["table", "study", "ok/one.json", "--spec", json.dumps({**SPEC, "basline": "v"}), "--out", "t"],
     "(top level): Additional properties are not allowed ('basline' was unexpected)"),
    (["table", "study", "ok/one.json", "--spec", "ok/trunc.json", "--out", "t"],
     "--spec ok/trunc.json: not valid JSON"),
    (["data", "validate", "ok", "ok/lists/val9.txt"], "ok/lists/val9.txt:1"),
    (["verify", "HEAD", "--profile", ""], "--profile: an empty name; name a profile of params.yaml"),
    (["data", "validate", "ok", "ok/spaced.txt"], "ok/spaced.txt:1: expected 'relative/path.mp4 label' (a list of "
                                                   "video), got 'my clips/a.mp4 0'; its path holds a space"),
    (["data", "validate", "ok", "ok/val.txt", "--out", "ok/val.txt"], "--out ok/val.txt is also an input"),
    (["data", "validate", "ok", "ok/val.txt", "--report", "ok/classes.txt"], "--report ok/classes.txt is also an input"),
    (["data", "validate", "ok", "ok/val.txt", "--out", "mine/videos/holiday.mp4"], "was not written by this command"),
    (["data", "validate", "ok", "ok/val.txt", "--classes", "nope.txt"], "--classes nope.txt: no such file"),
    (["data", "validate", "ok", "ok/binary.txt"], "ok/binary.txt: not UTF-8 text"),
    (["data", "validate", "ok", "ok/empty.txt"], "ok/empty.txt: no entries, nothing to validate"),
    (["data", "validate", "nowhere", "ok/val.txt"], "nowhere: no such folder"),
    (["data", "validate", "ok", "ok/val.txt", "--out", "x.tsv", "--report", "x.tsv"],
     "--report x.tsv: also the list of bad videos (--out)"),
    (["data", "validate", "ok", "ok/val.txt", "--gather", "ok/empty.txt", "ok/empty.txt", "--out", "x.tsv"],
     "--gather: ok/empty.txt given twice"),
    (["data", "validate", "ok", "ok/val.txt", "--modality", "frames", "--frame-template", "{:q}"],
     "--frame-template '{:q}': expected a file name formatting the frame number"),
    (["data", "prepare", "diving48", "--root", "prep", "--short-side", "-5"], "--short-side -5: the re-encoded"),
    (["data", "prepare", "diving48", "--root", "prep"], "prep/raw/Diving48_rgb.tar.gz: not fetched"),
    (["data", "fetch", "diving48", "--root", ""], "--root: an empty path"),
    (["data", "fetch", "diving48", "--root", "d48", "--mirror", "not-a-url"], "--mirror 'not-a-url': not a URL"),
    (["report", "--out", "ok/val.txt", "--tables", "ok/val.txt", "--profile", "synthetic"], "is also an input"),
    (["status", "--params", "broken.yaml"], "broken.yaml:2:1: not valid YAML"),
    (["cost", "--params", "list.yaml"], "list.yaml: not a mapping of sections"),
    (["status", "--profile", ""], "--profile: an empty name; name a profile of params.yaml"),
    (["cost", "--gpu-probe", "ok"], "--gpu-probe ok: a folder; name the probe's JSON file"),
    (["recipe", "differences", "pst_sthv1"], "recipe differences takes no name ('pst_sthv1')"),
    (["train", "--config", "broken.yaml", "--out", "run"], "broken.yaml"),
    (["evaluate", "norun"], "norun/config.yaml: not a run directory"),
    (["evaluate", "moved"], "moved: its validation list"),
    (["evaluate", "done", "--list", "ok/val.txt"], "ok/val.txt:1: a.mp4 is not under the data root"),
    (["evaluate", "moved", "--config", "recipe.yaml"], "--config goes with --checkpoint only"),
    (["evaluate", "--checkpoint", "w.pt", "--config", "recipe.yaml", "--out", "ev", "--list", "nolist.txt"],
     "--list nolist.txt: no such file (a path from the current folder)"),
    (["cam", "norun", "--video", "missing.mp4", "--out", "cam.png"], "missing.mp4: no such video file"),
    (["cam", "done", "--video", "ok/val.txt", "--out", "cam.png"], "--video ok/val.txt: cannot be read as a video"),
    (["table", "study", "--spec", '{"name": "x"}', "--out", "t"], "--spec: a table's spec: (top level): 'title' is a required property"),
    (["table", "released", "--spec", "{}", "--out", "t"], "the released checkpoints' spec: (top level): 'name' is a required"),
    (["plot", "--spec", '{"name": "x"}', "--table", "t.json", "--out-dir", "figs"], "a table's spec: (top level): 'title' is a required"),
    (["table", "flops", "ok/list.json", "--out", "t"], "ok/list.json: not a FLOPs record from `pst flops --json` (a"),
    (["table", "flops", "ok/half.json", "--out", "t"], "ok/half.json: not a FLOPs record from `pst flops --json` (no"),
    (["table", "metrics", "ok/list.json", "--out", "m.json"], "ok/list.json: not a table written by `pst table`"),
    (["table", "released", "--spec", '{"name": 1, "profile": "p", "rows": [], "comparable": true}', "--out", "t"],
     "--spec: the released checkpoints' spec: name: 1 is not of type 'string'"),
    (["table", "metrics", "ok/list.json", "--out", "ok/classes.txt"], "ok/classes.txt exists and was not written by"),
    (["table", "flops", "ok/one.json", "--out", "done/tab"], "--out done/tab: inside the run "),
    (["predict", "fifo.mp4", "--run", "done"], "fifo.mp4: not a regular file (a device, FIFO or socket)"),
    (["evaluate", "emptied"], "emptied/train.json: not a finished run's summary (no 'epochs')"),
    (["table", "metrics", "ok/one.json", "--spec", "{}", "--out", "t"], "table metrics: --spec not taken (it reads "
     "inputs only)"),
    (["table", "curve", "ok/one.json", "--spec", "{}", "--out", "t"], "table curve: inputs not taken"),
    (["data", "validate", "ok", "ok/val.txt", "--frame-start", "0"], "--frame-start: for frame folders; add "
     "--modality frames"),
    (["evaluate", "--checkpoint", "x.pt", "--config", "a.yaml", "--config", "b.yaml", "--out", "ev"],
     "--config given twice ('a.yaml', 'b.yaml'); give one"),
    (["cam", "done", "--name", " ", "--video", "ok/val.txt", "--out", "cam.png"], "--name: an empty title"),
    (["launch", "--procs", "3", "--", *TRAIN], "train.global_batch 8 is not a multiple of train.batch_per_device 8 x "
     "3 device(s)"),
    (["table", "study", "ok/one.json", "--spec", json.dumps(SPEC), "--out", "t"],
     "ok/one.json: counts pst_t at 8x224, not the table's paper input 16x224"),
    (["report", "--out", "done/README.md", "--tables", "ok/study.md", "--profile", "synthetic"],
     "--out done/README.md: inside the run "),
    (["cam", "done", "--video", "ok/val.txt", "--out", "ok/cam.png"], "figure ok/cam.png: inside the dataset "),
    (["table", "flops", "ok/list.json", "--out", "notes"], "--out notes: notes.md exists and was not written by"),
    (["plot", "--spec", json.dumps(SPEC), "--table", "ok/list.json", "--out-dir", "figs"],
     "ok/list.json: not a table written by `pst table study`"),
    (["plot", "--spec", json.dumps(SPEC), "--table", "ok/list.json", "--out-dir", " "], "--out-dir: an empty path"),
    (["table", "study", "--spec", json.dumps({**SPEC, "rows": SPEC["rows"] * 2}), "--out", "t"], "row v at 1x1 twice"),
    (["table", "flops", "ok/one.json", "--out", "tabs/"], "--out tabs/: a folder; name the table's path"),
    (["record", "done", "--views", "1x1", "--out", "rec"], "--out rec: the record of another run (elsewhere)"),
    (["cam", "done", "--videos-from", "ok/val9.txt", "--out", "cam.png"], "ok/val9.txt:1"),
    (["cam", "done", "--video", "ok/val.txt", "--out", "cam"], "cam: a figure is a .png or .svg file"),
    (["report", "--out", "page.md", "--tables", "ok/study.md", "ok/study.md", "--profile", "synthetic"],
     "--tables: ok/study.md given twice"),
    (["report", "--out", "page.md", "--tables", "ok/val.txt", "--profile", "synthetic"],
     "--tables: ok/val.txt is not a .md file"),
    (["plot", "--spec", json.dumps(SPEC), "--table", "ok/other.json", "--out-dir", "figs"],
     "--table ok/other.json: the table 'other — profile p', not the spec's 't' of profile p"),
    (["table", "study", "--spec", json.dumps({**SPEC, "rows": []}), "--out", "t"], "a table's spec: rows: []"),
    (["table", "study", "--spec", json.dumps({**SPEC, "baseline": "w"}), "--out", "t"],
     "baseline 'w' is none of the rows' variants (v)"),
    (["table", "study", "--spec", json.dumps({**SPEC, "seeds": [0, 1]}), "--out", "t"],
     "row v has 1 runs for 2 seeds [0, 1]"),
    (["table", "study", "--spec", json.dumps({**SPEC, "published": "nosuch"}), "--out", "t"],
     "published 'nosuch' is no table of pst/report/published.yaml"),
    (["table", "study", "--spec", json.dumps({**SPEC, "rows": [{**SPEC["rows"][0], "views": "2x2"}]}), "--out", "t"],
     "rows/0/views: '2x2' does not match"),
    (["flops", "pst_t", "--set", "patern=D"], "model pst_t does not accept these options"),
    (["memory", "pst_t", "--set", "num_heads=0"], "model pst_t: num_heads = 0 is not valid: expected heads per stage"),
    (["memory", "pst_t", "--set", "window_size=[1,0,7]"], "window_size = [1, 0, 7] is not valid: expected [t, h, w]"),
    (["memory", "pst_t", "--set", "embed_dim=95"], "stage 0's 95 channels (embed_dim 95 x 2^0) do not split into 3"),
    (["memory", "pst_t", "--set", "num_frames=0"], "--set num_frames: the input's option; use --frames instead"),
    (["memory", "pst_t", "--set", "channel_shift=2"], "model pst_t: channel_shift = 2 is not valid: expected true or"),
    (["flops", "pst_t", "--size", "7"], "img_size 7: at least 32 pixels (patch 4 x 3 patch merges)"),
    (["launch", "--", "launch", "--", "models"], "launch -- launch: launch starts a training's processes"),
    (["launch", "--procs", "2", "--", "evaluate", "run"], "launch -- evaluate: launch starts a training's processes"),
    (["bench", "loader", "--recipe", "tiny_deit", "--list", "ok/val.txt", "--model", "nosuch"],
     "--model 'nosuch': not a registered model"),
    (["bench", "loader", "--recipe", "tiny_deit", "--list", "ok/val.txt", "--set", "model.name=nope"],
     "--set model.name=nope: the loader benchmark reads the recipe's data.* keys only"),
    (["flops", "deit_s_tps", "--size", "225"], "img_size = 225 is not valid: expected a multiple of the patch size 16"),
    (["flops", "deit_s_tps", "--set", "num_heads=5"], "num_heads = 5 is not valid: expected a divisor of embed_dim 384"),
    (["table", "flops", "ok/nan.json", "--out", "t"], "ok/nan.json: not a FLOPs record from `pst flops --json` (gflops"),
    (["table", "flops", "ok/one.json", "ok/two.json", "--out", "t"], "ok/two.json: counts pst_t at 8x224 otherwise"),
    (["table", "flops", "ok/alien.json", "--out", "t"], "(model 'resnet50' is none of deit_s_2d,"),
    (["report", "--out", "page.md", "--tables", "ok/study.md", "--profile", "nosuch"],
     "--profile nosuch: ok/study.md is of profile synthetic"),
    (["cam", "done", "--video", "ok/val.txt", "--frames", "500", "--out", "cam.png"],
     "--frames 500: the runs' clips have 8 frames; show 1 to 8"),
    (["cam", "done", "--video", "ok", "--out", "cam.png"], "--video ok: a folder without frames named as the run's"),
    (["pretrained", "pst_t", "--out", ""], "--out: an empty path"),
    (["train", "--config", "ok", "--out", "run"], "recipe ok: a folder; give a recipe file"),
    (["train", "--config", "[1]", "--out", "run"], "recipe [1]: inline JSON must be a mapping"),
    (["evaluate", "--checkpoint", "recipe.yaml", "--config", "recipe.yaml", "--out", "ev"],
     "checkpoint recipe.yaml: cannot be read as weights only"),
    (["launch", "--agent", "--nodes", "2", "--", "models"], "launch --agent: runs on a node of a SLURM allocation"),
    (["train", "--config", "recipe.yaml", "--out", "mine"], "--out mine: a folder with other files (train.txt)"),
    (["evaluate", "done", "--out", "mine"], "--out mine: a folder with other files (train.txt)"),
    (["evaluate", "listrun"], "listrun/config.yaml: not a run's recipe (a YAML list)"),
    (["record", "done", "--views", "1x1", "--out", "mine"], "--out mine: a folder with other files (train.txt), not a record"),
    (["cam", "done", "--video", "ok/val.txt", "--out", "photo.png"], "photo.png: exists and is not a figure pst"),
    (["launch", "--nodes", "2", "--", *TRAIN, "--set", "optim.lr=-1"], "optim.lr = -1 is not valid"),
    (["compare", "HEAD..HEAD~1", "HEAD"], "revision 'HEAD..HEAD~1': not a commit"),
    (["compare", "", "HEAD"], "revision '': not a commit"),
    (["compare", "HEAD", "HEAD"], "HEAD twice: name two revisions"),
    (["compare", "HEAD~1", "HEAD", "--table", "flops", "--seeds"], "--seeds: the FLOPs table has no seeds"),
    (["verify", "HEAD..HEAD~1"], "revision 'HEAD..HEAD~1': not a commit"),
    (["verify", "--profile", "nosuch"], "no tables of profile 'nosuch'"),
    (["train", "--config", "recipe.yaml"], "pst train: error: the following arguments are required: --out; `pst"),
    (["data", "synth", "--out", "new", "--pairs", "q"], "argument --pairs: invalid int value: 'q'; `pst data synth"),
    (["evaluate", "done", "--out", "ok/ev"], "--out ok/ev: inside the dataset "),
    (["record", "done", "--views", "1x1", "--out", "ok/rec"], "--out ok/rec: inside the dataset "),
    (["data", "synth", "--out", "done/set", "--pairs", "1"], "--out done/set: inside the run "),
    (["compare", "HEAD~1", "HEAD", "--curves", "results/synthetic/mine.png"],
     "--curves results/synthetic/mine.png: inside the study results "),
    (["train", "--config", "", "--out", "run"], "recipe: an empty path; give a recipe file"),
    (["data", "validate", "ok", "ok/neg.txt"], "ok/neg.txt:1: label -1 is negative"),
    (["evaluate", "--checkpoint", "cut.safetensors", "--config", "recipe.yaml", "--out", "ev"],
     "checkpoint cut.safetensors: cannot be read as weights only"),
    (["plot", "--spec", json.dumps(SPEC), "--table", "ok/tab.json", "--out-dir", "figs"],
     "--table ok/tab.json: its trained rows (w) are not the spec's (v)"),
    (["evaluate", "sealed"], "sealed/metrics.json: changed since the run finished"),
    (["cam", "done", "--video", "ok/empty.mp4", "--out", "cam.png"], "ok/empty.mp4"),
    (["table", "study", "--spec", json.dumps({**SPEC, "rows": [{**SPEC["rows"][0], "published_row": "nosuch"}]}),
      "--out", "t"], "--spec: a table's spec: row v: published row 'nosuch' of no published table"),
    (["report", "--out", "page.md", "--tables", "notes.md", "--profile", "synthetic"],
     "--tables notes.md: not a table written by `pst table` (no title line, or not the title of its notes.json)"),
    (["report", "--out", "page.md", "--tables", "ok/study.md", "--figures", "photo.png", "--profile", "synthetic"],
     "--figures photo.png: not a figure pst drew"),
    # trial 11: another table's, profile's or page's files; a seal, a probe, a classes file, a list, a view
    (["report", "--out", "otherpage.md", "--tables", "ok/study.md", "--profile", "synthetic"],
     "--out otherpage.md: the results page of profile synthetic-full, not of synthetic"),
    (["table", "flops", "ok/one.json", "--out", "tabs/t1"], "tabs/t1.json holds another table (kind study, name t1, "
     "profile p), not this one (kind flops)"),
    (["table", "metrics", "ok/m1.json", "--out", "prof/metrics.json"], "--out prof/metrics.json: the metrics of the "
     "tables in prof/tables, not of ok/m1.json"),
    (["table", "curve", "--spec", json.dumps({**SPEC, "rows": [{**SPEC["rows"][0], "runs": ["sealed"]}]}),
      "--out", "curves"], "sealed/metrics.json: changed since the run finished"),
    (["cost", "--gpu-probe", "ok/probe0.json"], "ok/probe0.json: rows[0].tflops = 0 is not valid"),
    (["cost", "--gpu-probe", "ok/probeinf.json"], "ok/probeinf.json: rows[0].clips_per_s = inf is not valid"),
    (["cost", "--gpu-probe", "ok/probestr.json"], "rows[0].clips_per_s = 'fast' is not valid"),
    (["cost", "--gpu-probe", "ok/proberow.json"], "ok/proberow.json: rows[0] is not an object"),
    (["data", "validate", "spaces", "spaces/val.txt"], "spaces/classes.txt:2: class 'up ' again (first on line 1"),
    (["data", "validate", "blank", "blank/val.txt"], "blank/classes.txt:2: a blank line"),
    (["evaluate", "done", "--list", "ok/dirs.txt"], "ok/dirs.txt:1: videos is a folder, where a line of two columns"),
    (["record", "done", "--views", "3x", "--out", "rec3"], "--views: expected CROPSxCLIPS such as 3x4 or 1x1, got '3x'"),
    (["record", "done", "--views", "1x1", "--out", "notes.md"], "--out notes.md: a file; name the record's folder"),
    (["plot", "--spec", "[1]", "--table", "t.json", "--out-dir", "figs"], "--spec [1]: inline JSON must be a mapping"),
]


@pytest.mark.parametrize("argv,says", CASES, ids=[" ".join(a)[:60] for a, _ in CASES])
def test_a_bad_input_is_one_line_exit_2_and_changes_nothing(argv, says, easy, tmp_path, monkeypatch, capfd):
    _setup(tmp_path, easy)
    if argv[0] in ("compare", "verify"):     # they read the project's own git history
        monkeypatch.chdir(ROOT)
    else:
        monkeypatch.chdir(tmp_path)
    before = _tree(tmp_path)
    try:
        code = main(argv)
    except SystemExit as exit_:                 # argparse's usage errors
        code = exit_.code
    err = capfd.readouterr().err               # native libraries' lines too (they write to file descriptor 2)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"pst {argv[0]}") and "Traceback" not in err, err
    assert says in lines[0], lines[0]
    assert _tree(tmp_path) == before
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".lock") and p not in before]


@pytest.mark.parametrize("text, says", [("42", "not the annotation file the dataset ships"),
                                        ("[{\"label\": 0}]", "not the annotation file the dataset ships"),
                                        ("[{\"vid_name\": \"a\", \"label\": \"x\"}]", "item 0 \\(a\\): label 'x' is not a class"),
                                        ("\xff", "not the annotation file the dataset ships")])
def test_an_annotation_file_of_another_shape_is_named(tmp_path, text, says):
    from pst.datasets.convert import convert_diving48

    split = tmp_path / "Diving48_V2_train.json"
    split.write_text(text, encoding="latin-1")
    with pytest.raises(ValueError, match=f"^{split}: {says}"):
        convert_diving48(split, {"a.mp4": "a.mp4"})


def test_a_k400_row_that_does_not_parse_is_named_by_line(tmp_path):
    from pst.datasets.convert import convert_k400

    csv_file = tmp_path / "train.csv"
    csv_file.write_text("label,youtube_id,time_start,time_end,split\nabseiling,abc,0,10,train\n"
                        "abseiling,def,zero,10,train\n")
    with pytest.raises(ValueError, match=r"train.csv:3: time_start 'zero' / time_end '10' are not whole seconds"):
        convert_k400(csv_file, ["abseiling"], {})


def test_inline_json_longer_than_a_file_name_is_still_a_recipe():
    """The workflow hands specs and recipe sections as inline JSON, often longer than a path may be."""
    import json

    from pst.engine.config import load_recipe

    assert load_recipe(json.dumps({"title": "x" * 5000})) == {"title": "x" * 5000}


def test_cam_reads_a_frame_folder_given_by_hand(easy, tmp_path):
    """`pst cam --video FOLDER`: the run's frame template, counted from its start (no list says how many)."""
    import cv2
    import numpy as np

    from pst.engine.config import resolve
    from pst.report.cam import read_clip

    cfg = resolve(tiny_recipe(easy))
    cfg["data"]["modality"] = "frames"
    for i in range(12):
        cv2.imwrite(str(tmp_path / cfg["data"]["frame_template"].format(cfg["data"]["frame_start"] + i)),
                    np.full((40, 48, 3), 20 * i, np.uint8))
    views, rgb = read_clip(cfg, tmp_path)
    assert rgb.shape[0] == cfg["data"]["sampling"]["clip_len"]
    assert rgb[0].mean() < rgb[-1].mean()                     # frames in order, from the folder's first


def test_a_training_that_fails_before_its_first_checkpoint_leaves_no_run_folder(easy, tmp_path, monkeypatch,
                                                                                capsys):
    """Every training video cut to nothing: training starts, gives up after 21 unreadable videos in a row and removes
    the run folder it had made (its config and env, nothing trained). (A list naming videos that are not there at
    all is refused before the folder: the bad-inputs table.)"""
    (easy / "gone.txt").write_text("".join(f"videos/gone_{i}.mp4 {i % 2}\n" for i in range(16)))
    for i in range(16):
        (easy / f"videos/gone_{i}.mp4").write_bytes(b"")
    recipe = tiny_recipe(easy)
    recipe["data"]["train_list"] = "gone.txt"
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--config", "recipe.yaml", "--out", "run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "unreadable videos in a row" in err[-1] and "Traceback" not in "\n".join(err)
    assert sorted(os.listdir(tmp_path)) == ["recipe.yaml"]


def test_a_second_synth_into_one_folder_waits_its_turn(tmp_path, monkeypatch, capsys):
    """Two renderings into one folder at once mixed their videos (seed 0's and seed 1's, one synth.json): the
    second is refused while the first holds the folder."""
    from pst.io import locked

    monkeypatch.chdir(tmp_path)
    with locked(tmp_path / "s", "pst data synth (seed 0)"):
        assert main(["data", "synth", "--out", "s", "--seed", "1", "--pairs", "1", "--train-per-class", "1",
                     "--val-per-class", "1", "--frames", "4", "--size", "32"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pst data synth: error: s is in use by pst data synth (seed 0)")
    assert not (tmp_path / "s").exists()


def test_a_table_interrupted_while_writing_keeps_the_version_before(easy, tmp_path, monkeypatch, capsys):
    """A table's three files replace the earlier ones only once all three are written: a Ctrl-C while writing
    leaves the earlier table whole (or none, the first time), and the same command then writes it."""
    from pathlib import Path

    _setup(tmp_path, easy)
    monkeypatch.chdir(tmp_path)
    real = Path.write_text

    def interrupted(argv):
        calls = []

        def second_write_interrupted(self, text, *args, **kwargs):
            if calls:
                raise KeyboardInterrupt
            calls.append(self)
            return real(self, text, *args, **kwargs)

        monkeypatch.setattr(Path, "write_text", second_write_interrupted)
        try:
            return main(argv)
        finally:
            monkeypatch.setattr(Path, "write_text", real)

    def table():                                  # the table's files and any temporary file of theirs
        return {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith(("t.", ".t."))}

    first, second = (["table", "flops", f"ok/{r}.json", "--out", "t"] for r in ("one", "two"))
    assert interrupted(first) == 130 and not table()                              # nothing, not a part
    assert main(first) == 0, capsys.readouterr().err
    before = table()
    assert interrupted(second) == 130
    assert table() == before                                                      # the earlier table, whole
    assert main(second) == 0 and b"2.5" in (tmp_path / "t.csv").read_bytes()


def test_cam_takes_a_lists_videos_under_the_runs_data_root_and_says_when_it_draws_fewer(easy, tmp_path, monkeypatch,
                                                                                        capsys):
    """Trial 11: --videos-from read its entries beside the list, not where `pst evaluate --list` reads them (the
    run's data root); a --count above the list's classes drew fewer videos without a word."""
    _setup(tmp_path, easy)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "val.txt").write_text((easy / "val.txt").read_text())     # away from the data
    classes = len((easy / "classes.txt").read_text().split())
    assert main(["cam", "done", "--videos-from", "lists/val.txt", "--count", "10", "--out", "cam.png"]) == 0
    assert f"--count 10: lists/val.txt has videos of {classes} classes; drawing {classes}" in capsys.readouterr().err
    assert (tmp_path / "cam.png").stat().st_size > 0
