"""A run folder and what may happen to it: its recipe split into identity and execution settings, its one-writer
lock, and the move aside of a finished run whose recipe changed. Torch-free; `pst train` and `pst evaluate` both
use it.

A run is identified by what changes its result (data, sampling, transforms, model, optimisation, schedule, seed,
precision, the global batch); how it is executed (loader workers, video caching, progress bars, checkpoint cadence
and retention, TensorBoard) is recorded in its config.yaml but never makes it another run.
"""
from __future__ import annotations

import atexit
import copy
import csv
import functools
import hashlib
import json
import os
import shutil
import signal
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import yaml

from pst.engine.config import get_dotted
from pst.io import load_yaml, locked, read_record, sha256sum, write_text
from pst.layout import SYNTH_RECORD, RunDir, archive_dir, final_weights

EXECUTION = ("data.workers", "data.cache_videos", "data.normalize", "data.pin_memory", "data.persistent_workers",
             "data.prefetch_factor", "train.progress", "train.keep_checkpoints",
             "train.keep_finished", "train.checkpoint_every", "train.checkpoint_every_steps", "train.checkpoint_minutes",
             "train.tensorboard", "train.threads")


def identity(cfg: dict) -> dict:
    """The recipe without its execution settings: what names the run (and what reruns it in the workflow)."""
    out = copy.deepcopy(cfg)
    for dotted in EXECUTION:
        parent, _, last = dotted.rpartition(".")
        node = get_dotted(out, parent) if parent else out
        if isinstance(node, dict):
            node.pop(last, None)
    return out


def recipe_digest(cfg: dict) -> str:
    """A short SHA-256 of the run's identity: what each checkpoint records, so that one copied in from another
    run (another model, seed or data) is refused rather than resumed as this run's."""
    return hashlib.sha256(json.dumps(identity(cfg), sort_keys=True, default=str).encode()).hexdigest()[:16]


def execution(cfg: dict) -> dict:
    """{dotted key: value} of the execution settings a recipe sets."""
    return {k: v for k in EXECUTION if (v := get_dotted(cfg, k)) is not None}


def execution_arg(cfg: dict) -> str:
    """The execution settings as one shell-safe word, ``key=value,key=value`` (what `pst train --execution`
    takes): how the workflow hands them to a job without making them a rerun trigger."""
    return ",".join(f"{k}={json.dumps(v)}" for k, v in execution(cfg).items()) or "none"


def parse_execution_arg(text: str) -> list[str]:
    """``key=value,...`` -> ``--set`` overrides; only execution keys are accepted."""
    if not text.strip():
        raise ValueError("--execution: an empty value; give KEY=VALUE,... of execution settings, or none")
    if text == "none":
        return []
    items = text.split(",")
    for item in items:
        key = item.split("=", 1)[0]
        if "=" not in item or key not in EXECUTION:
            raise ValueError(f"--execution: {item!r} is not KEY=VALUE with KEY one of {', '.join(EXECUTION)}")
    return items


def compose(configs: list[str] | None, sets: list[str] | None, execution_settings: str = "none") -> dict:
    """A training's recipe: defaults <- recipes (files or inline JSON, merged in order, later over earlier) <-
    ``key=value`` overrides <- execution settings (``key=value,...``), validated; what `pst train` and `pst launch`
    resolve before any process starts."""
    from pst.engine.config import load_recipe, merge, resolve

    recipe: dict = {}
    for part in configs or []:
        recipe = merge(recipe, load_recipe(part))
    return resolve(recipe, (sets or []) + parse_execution_arg(execution_settings))


def diff(a: dict, b: dict, path: str = "") -> list[str]:
    out = []
    for k in sorted(set(a) | set(b)):
        if isinstance(a.get(k), dict) and isinstance(b.get(k), dict):
            out += diff(a[k], b[k], f"{path}{k}.")
        elif a.get(k) != b.get(k):
            out.append(f"{path}{k}: {a.get(k)!r} -> {b.get(k)!r}")
    return out


def load_config(run_dir: str | Path) -> dict:
    """A run's recipe, resolved again: a key the recipe gained after the run was made reads as its default, and
    keys an older version wrote read as what they ran (pst.engine.config.upgrade)."""
    from pst.data.annotations import read_classes
    from pst.engine.config import resolve, resolve_path, upgrade

    path = RunDir(run_dir).config
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not a run directory (no config.yaml); train into it first")
    try:
        raw = load_yaml(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise ValueError(f"{path}{at}: the run's recipe is not valid YAML ({getattr(err, 'problem', None) or err}); "
                         "restore it (its record under results/<profile>/records/ keeps a copy)") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: not a run's recipe (a YAML {type(raw).__name__}); this folder is not a run: "
                         "name a run directory")
    data = raw.get("data") if isinstance(raw.get("data"), dict) else {}
    try:
        classes = resolve_path(data.get("root", "."), data.get("classes", "classes.txt"))
        return resolve(upgrade(raw, read_classes(classes) if classes.is_file() else None))
    except (TypeError, ValueError) as err:          # hand-edited or cut: named, with what the key accepts
        raise ValueError(f"{path}: not a run's recipe as training wrote it ({err}); restore it (its record under "
                         "results/<profile>/records/ keeps a copy)") from None


def check_run_folder(run_dir: str | Path) -> None:
    """Refuse to train into a folder that holds files but no run (a user's folder): nothing is added to it."""
    run_dir = Path(run_dir)
    try:
        str(run_dir.resolve()).encode("utf-8")      # its path goes into config.yaml, train.log and the records
    except UnicodeEncodeError:
        raise ValueError(f"--out {str(run_dir)!r}: a name with bytes that are not UTF-8; name the run's folder in "
                         "UTF-8") from None
    if run_dir.is_symlink():                # moving a run aside would move the link, not the run
        raise ValueError(f"--out {run_dir}: a symbolic link (to {os.readlink(run_dir)}); give the run's folder itself")
    if run_dir.exists() and not run_dir.is_dir():
        raise ValueError(f"--out {run_dir}: a file; name the run's folder")
    checkpoints = RunDir(run_dir).checkpoints
    if checkpoints.exists() and not checkpoints.is_dir():
        raise ValueError(f"--out {run_dir}: its {checkpoints.name} is not a folder; move that file away, or train "
                         "into another --out")
    if run_dir.is_dir() and any(run_dir.iterdir()) and not any((run_dir / m).exists() for m in RunDir.MARKS):
        first = sorted(p.name for p in run_dir.iterdir())[0]
        raise ValueError(f"--out {run_dir}: a folder with other files ({first}) and no run; train into a new or "
                         "empty folder")


SEALED = (RunDir.CONFIG, RunDir.ENV, RunDir.METRICS, RunDir.METRICS_CSV)   # what train.json records the SHA-256 of


def seal(run_dir: Path) -> dict:
    """The SHA-256 of a finishing run's small files, for its train.json: an edit after the run finished (another
    model width in config.yaml, another top-1 in metrics.json) is then found when they are read."""
    return {name: sha256sum(Path(run_dir) / name) for name in SEALED}


def check_run_files(run_dir: Path) -> None:
    """A finished run's small files as training wrote them: JSON of the right shape, metrics.csv with a row per
    epoch of metrics.json, each file's SHA-256 the one train.json sealed (runs finished before the seal have none);
    one ValueError naming the first that is not."""
    fix = "train the run again into a new folder (or restore the file)"
    r = RunDir(run_dir)
    rows = read_record(r.metrics, "a run's per-epoch metrics", fix, {"epoch": int}, kind=list)
    read_record(r.env, "a run's environment record", fix, {"torch": str})
    summary = read_record(r.summary, "a finished run's summary", fix, {"epochs": int, "final": dict})
    try:
        with open(r.metrics_csv, newline="") as fh:
            epochs = [int(row["epoch"]) for row in csv.DictReader(fh)]
    except (OSError, KeyError, ValueError, TypeError) as err:
        raise ValueError(f"{r.metrics_csv}: not a run's per-epoch metrics ({type(err).__name__}: {err}); {fix}") \
            from None
    if epochs != [row["epoch"] for row in rows]:
        raise ValueError(f"{r.metrics_csv}: its epochs are not those of {r.metrics.name}; {fix}")
    sealed = summary.get("sealed", {})     # absent with its weights' digest: a run finished before both (as before)
    new = "sealed" in summary or "weights" in summary
    if not isinstance(sealed, dict) or (new and set(sealed) != set(SEALED)):
        raise ValueError(f"{r.summary}: its 'sealed' is not the SHA-256 of the run's {', '.join(SEALED)}; {fix}")
    if "weights" in summary:                            # the final weights it finished with (a copy of another
        from pst.engine.checkpoint import run_weights    # run's, or a link to them, is not)

        if run_weights(run_dir) != summary["weights"]:
            raise ValueError(f"{r.final}: not the weights this run finished with (their digest is not the one its "
                             f"{r.SUMMARY} recorded); restore them, or train the run again into a new folder")
    for name, digest in sealed.items():
        if not (r.path / name).is_file() or sha256sum(r.path / name) != digest:
            raise ValueError(f"{r.path / name}: changed since the run finished (not the SHA-256 its {r.SUMMARY} "
                             "sealed); restore it (the run's record under results/<profile>/records/ keeps a copy), "
                             "or train the run again into a new folder")


def write_config(run_dir: str | Path, cfg: dict) -> Path:
    return write_text(RunDir(run_dir).config, yaml.safe_dump(cfg, sort_keys=False))


def recipe_changes(run_dir: str | Path, cfg: dict) -> list[str]:
    """How ``cfg`` differs from the run already in ``run_dir`` in what identifies a run ([] if none is there)."""
    if not RunDir(run_dir).config.exists():
        return []
    return diff(identity(load_config(run_dir)), identity(cfg))


def data_fingerprint(cfg: dict) -> Optional[str]:
    """A run's data by content: its lists, classes, the videos validation left out and (synthetic set) synth.json,
    which names the generator's config and encoder. The same recipe on regenerated or re-prepared data is another
    run. None while a file is missing (training then stops on it with its own message)."""
    from pst.engine.config import resolve_path

    d = cfg["data"]
    files = [resolve_path(d["root"], d[k]) for k in ("train_list", "val_list", "classes")]
    if not all(f.is_file() for f in files):
        return None
    synth = Path(d["root"]) / SYNTH_RECORD
    bad = resolve_path(d["root"], d["bad_videos"]) if d.get("bad_videos") else None    # what is left out
    digest = hashlib.sha256()
    for f in files + [x for x in (synth, bad) if x is not None and x.is_file()]:
        digest.update(f.read_bytes())
    return digest.hexdigest()[:16]


def data_changes(run_dir: str | Path, cfg: dict) -> list[str]:
    """How the run's data differs from what it was trained on ([] if the same, or not recorded: runs made before
    the fingerprint existed are kept as they are)."""
    env = RunDir(run_dir).env
    now = data_fingerprint(cfg)
    if not env.is_file() or now is None:
        return []
    before = read_record(env, "a run's environment record", "restore it (its record under "
                         "results/<profile>/records/ keeps a copy)").get("data")
    return [] if before in (None, now) else [f"data: {before} -> {now}"]


def changes(run_dir: str | Path, cfg: dict) -> list[str]:
    """What makes ``cfg`` another run than the one in ``run_dir``: its identity, then its data ([] if the same run,
    or none is there)."""
    return recipe_changes(run_dir, cfg) + data_changes(run_dir, cfg)


def finished(run_dir: str | Path) -> bool:
    """A run that finished: its final weights, its summary or an evaluation is there. Any one is enough, for the
    others may be gone (Snakemake removes a job's output, the final weights, before it runs the job again)."""
    run = RunDir(run_dir)
    return (run.final.exists() or run.legacy_final.exists() or run.summary.exists()
            or any(p.is_dir() for p in Path(run_dir).glob("eval_*")))


def archive_changed(run_dir: str | Path, cfg: dict) -> Path | None:
    """Move a finished run whose recipe or data is no longer ``cfg`` aside, whole, before Snakemake reruns its
    training (the workflow's onstart: Snakemake removes a job's output, the run's final weights, before the job
    starts, so the training job itself would find them gone). Returns where it went, or None."""
    if not Path(run_dir).is_dir() or not finished(run_dir):
        return None
    with locked(run_dir, "snakemake (moving a changed run aside)"):
        changed = changes(run_dir, cfg)
        return move_aside(run_dir, "; ".join(changed)) if changed else None


def move_aside(run_dir: str | Path, reason: str) -> Path | None:
    """Make room for a new recipe in ``run_dir``: a finished run is moved to its archive folder with everything in
    it, evaluations included, never deleted; an unfinished one only had stale checkpoints and is discarded.
    Returns where the finished run went."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        return None
    if not finished(run_dir):
        shutil.rmtree(run_dir)
        return None
    if not Path(final_weights(run_dir)).exists():
        reason += "; its final weights were gone before it was moved (removed by hand, or by Snakemake run without "
        reason += "the workflow's onstart step)"
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = Path(archive_dir(run_dir, stamp))
    for n in range(2, 1000):                   # a second move within the same second (the run lock is held)
        if not target.exists():
            break
        target = Path(archive_dir(run_dir, f"{stamp}-{n}"))
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(run_dir, target)
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    write_text(target / "ARCHIVED.txt", f"moved aside from {run_dir} at {when}: {reason}\n")
    return target


def log_line(run_dir: str | Path, message: str) -> None:
    """Print one line of a run's history and append it, time-stamped, to RUN/train.log: the run's own log keeps
    every attempt (start, resume, stop, epochs), where the workflow's job log is replaced at each retry."""
    print(message, flush=True)
    with open(RunDir(run_dir).log, "a") as fh:
        fh.write(f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} {message}\n")


class Preempted(RuntimeError):
    """Training stopped on SIGTERM / SIGUSR1 (SLURM's time limit or preemption) after saving a checkpoint."""

    exit_code = 75                       # EX_TEMPFAIL: try again (the workflow's retries, SLURM's requeue)


class Interrupted(Preempted):
    """Training stopped on Ctrl-C at a step boundary after saving a checkpoint: the shell's 130, as for Ctrl-C."""

    exit_code = 130


class PeerLost(Preempted):
    """Another training process stopped answering (its node died, it crashed): this one stops too, retryably; the
    last checkpoint is kept and the rerun resumes from it."""


def peer_lost(err: BaseException) -> bool:
    """Whether a distributed error means a peer is gone (gloo/nccl: connection closed or reset, timed out)."""
    import re

    text = f"{type(err).__name__}: {err}"
    return bool(re.search(r"DistBackendError|DistNetworkError|Connection (closed|reset)|closed by peer|"
                          r"Broken pipe|timed out|Timeout|NCCL (error|communicator)", text, re.IGNORECASE))


class StopSignals:
    """SIGTERM, SIGUSR1, SIGHUP (a closed terminal) and a first Ctrl-C ask training to stop at the next step
    boundary, with a checkpoint (the handler only sets a flag); a second Ctrl-C stops at once. A signal the process
    was started ignoring (``nohup``) stays ignored."""

    SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGHUP)

    def __init__(self):
        self.received: Optional[str] = None
        self.interrupted = False                      # a second Ctrl-C: raised at once, and again at the next step
        self.where: tuple[int, int] = (1, 0)          # (epoch, step) training has reached: for stop messages
        self._old = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                if signal.getsignal(sig) != signal.SIG_IGN:
                    self._old[sig] = signal.signal(sig, self._handle)
            if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
                self._old[signal.SIGINT] = signal.signal(signal.SIGINT, self._interrupt)
        return self

    def _handle(self, signum, frame):
        self.received = signal.Signals(signum).name

    def _interrupt(self, signum, frame):
        """The first Ctrl-C: a stop with a checkpoint, as SIGTERM (the steps since the last checkpoint are kept).
        A second: Ctrl-C as Python raises it, remembered (a KeyboardInterrupt raised inside a destructor or a C
        library's callback is printed and dropped by Python, and the training would go on: seen once in CI)."""
        if self.received is None:
            self.received = "SIGINT"
            print("Ctrl-C: stopping at the next step with a checkpoint (Ctrl-C again: at once)", file=sys.stderr)
            return
        self.interrupted = True
        raise KeyboardInterrupt

    def __exit__(self, *exc):
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


class Terminated(BaseException):
    """SIGTERM or SIGHUP outside training (which stops at a step boundary instead): raised, as Ctrl-C raises
    KeyboardInterrupt, so locks, temporary files and the folders a command made are cleaned up on the way out."""

    @property
    def exit_code(self) -> int:                  # 128 + the signal, what the shell reports for a killed command
        return 128 + signal.Signals[self.args[0]].value if self.args else 143


@contextmanager
def terminate_raises() -> Iterator[None]:
    """While a command runs: SIGTERM and SIGHUP raise Terminated (where nothing else handles them; an ignored
    SIGHUP, under nohup, stays ignored)."""
    def handle(signum, frame):
        raise Terminated(signal.Signals(signum).name)

    old = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) == signal.SIG_DFL:
                old[sig] = signal.signal(sig, handle)
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


WORKER_DEAF = (*StopSignals.SIGNALS, signal.SIGINT)   # what a loader worker never dies of


def ignore_stop_signals(worker_id: int = 0) -> None:
    """DataLoader worker_init_fn: SLURM signals every process of a job, a terminal's Ctrl-C every process of its
    group; a loader worker that died of one would crash the step the main process is about to finish and
    checkpoint. They reach the worker blocked (`starting_workers`): ignored first, so a pending one is discarded."""
    for sig in WORKER_DEAF:
        signal.signal(sig, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, WORKER_DEAF)


def check_loader_workers(workers: int, what: str) -> int:
    """``workers`` loader processes of one training or evaluation process, at most this node's cores: each is a
    fork of the whole process (hundreds of MB), and 100000 of them took the machine's memory before a step ran."""
    cores = os.cpu_count() or 1
    if workers > cores:
        raise ValueError(f"{what} = {workers} is not valid: expected at most this node's {cores} cores (loader "
                         "processes of each training or evaluation process; 0 decodes in the process itself)")
    return workers


def starting_workers(loader) -> Iterator:
    """``iter(loader)`` with the stop signals blocked while it forks its workers: a worker inherits them blocked
    until its worker_init_fn ignores them (torch's workers end on a SIGTERM not from their parent, and one that came
    between the fork and that function killed the worker: seen in CI under load). This process gets a blocked
    signal when they are unblocked."""
    _kill_loader_workers_at_exit()
    old = signal.pthread_sigmask(signal.SIG_BLOCK, WORKER_DEAF)
    try:
        return iter(loader)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@functools.cache
def _kill_loader_workers_at_exit() -> None:
    """Registered once, when the first loader starts: after multiprocessing's own exit function, so it runs first."""
    atexit.register(_kill_loader_workers)


def _kill_loader_workers() -> None:
    """At exit, loader workers still running get SIGKILL: multiprocessing's exit sends its daemon children SIGTERM,
    which loader workers ignore, and then waits for them; a crash that left an epoch's workers running waited forever
    (seen in CI17: a training that crashed was still there 45 minutes later)."""
    import multiprocessing

    children = [c for c in multiprocessing.active_children() if c.daemon]
    if children:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)   # torch's handler would report each as a second error
        for child in children:
            child.kill()


