"""Multi-crop x multi-clip testing: every view of a video in one batched forward (chunked when memory requires),
softmax probabilities averaged per video (or logits averaged), top-1 / top-5 / mean class accuracy.

eval.json and predictions.csv are a function of the run's weights, the list, the views and the evaluation code
(named by its content fingerprint): the same evaluation writes the same bytes. Speed and the git revision are
printed (the job's log), not stored.

Videos that fail to decode are listed and counted; the denominator of every metric is stated in eval.json. Partial
videos (fewer frames than their container claims) are evaluated on what is there, and listed and counted too. A
video the list names more than once is evaluated once per entry (as mmaction2 0.x scores every entry) and the repeats
are named and counted.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
import shutil
import sys
import time
import zipfile
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from tqdm import tqdm

from pst.data.dataset import VideoDataset
from pst.engine.build import loader as data_loader
from pst.engine.build import load_run_model, views_dataset
from pst.engine.checkpoint import run_weights
from pst.engine.config import check_views, parse_views, resolve_path
from pst.engine.run import check_loader_workers, check_run_files, load_config, starting_workers
from pst.io import (absent, atomic_path, check_out_folder, check_writable, json_or_none, locked, read_record,
                    sha256sum, write_text)
from pst.layout import EVAL, PREDICTIONS, SCORES, RunDir, eval_dir, synthetic_set
from pst.provenance import git_revision, job_fingerprint


def aggregate(logits: torch.Tensor, average: str = "prob") -> torch.Tensor:
    """(videos, views, classes) logits -> (videos, classes) probabilities: mean of softmaxes ("prob", the
    official setting) or softmax of the mean logit ("score")."""
    if average == "prob":
        return logits.float().softmax(-1).mean(1)
    if average == "score":
        return logits.float().mean(1).softmax(-1)
    raise ValueError(f"average: expected 'prob' or 'score', got {average!r}")


def twin_accuracy(probs: torch.Tensor, labels: torch.Tensor) -> Optional[float]:
    """Top-1 (in %) between the two classes of each video's time-reversed twin pair (synthetic set: class 2k is
    2k+1 played backwards). 50 is what a model blind to frame order gets."""
    if len(labels) == 0:
        return None
    pair = (labels // 2) * 2
    forward, backward = probs.gather(1, pair[:, None])[:, 0], probs.gather(1, pair[:, None] + 1)[:, 0]
    pred = pair + (backward > forward).long()
    return 100 * (pred == labels).float().mean().item()


def accuracy(probs: torch.Tensor, labels: torch.Tensor, num_classes: int) -> dict:
    """top-1, top-5 (in %) and mean class accuracy over the classes present."""
    if len(labels) == 0:
        return {"top1": None, "top5": None, "mean_class_accuracy": None}
    k = min(5, probs.shape[1])
    top = probs.topk(k, dim=1).indices
    top1 = (top[:, 0] == labels).float()
    top5 = (top == labels[:, None]).any(1).float()
    per_class = [top1[labels == c].mean().item() for c in range(num_classes) if (labels == c).any()]
    return {"top1": 100 * top1.mean().item(), "top5": 100 * top5.mean().item(),
            "mean_class_accuracy": 100 * sum(per_class) / len(per_class)}


@torch.no_grad()
def predict(model: torch.nn.Module, dataset: VideoDataset, device: torch.device, batch_videos: int = 1,
            max_views: int = 64, average: str = "prob", workers: int = 0, autocast=None,
            progress: bool = False) -> dict:
    """Probabilities per decodable video; all views of a video go through the model together."""
    model.eval()
    loader = data_loader(dataset, workers, batch_size=batch_videos)
    probs, logits, labels, indices, failed, partial, looped = [], [], [], [], [], [], []
    views_seen, t0 = 0, time.perf_counter()
    for batch in tqdm(starting_workers(loader), total=len(loader), desc="evaluate",
                      disable=not progress or not sys.stderr.isatty(), leave=False):
        failed += [(i, dataset.entries[i].path) for i in batch["invalid_index"]]
        partial += batch["partial"]
        looped += batch["looped"]
        if batch["clips"] is None:
            continue
        clips = batch["clips"].to(device, non_blocking=True)          # (videos, views, C, T, H, W)
        v, n = clips.shape[:2]
        flat = clips.flatten(0, 1)
        outs = []
        for chunk in flat.split(max_views):
            with autocast if autocast is not None else torch.autocast(device.type, enabled=False):
                outs.append(model(chunk).float())
        views = torch.cat(outs).view(v, n, -1).cpu()
        logits.append(views)
        probs.append(aggregate(views, average))
        labels.append(batch["label"])
        indices.append(batch["index"])
        views_seen += v * n
    elapsed = time.perf_counter() - t0
    return {"probs": torch.cat(probs) if probs else torch.empty(0, 0),
            "logits": torch.cat(logits) if logits else torch.empty(0, 0, 0),
            "labels": torch.cat(labels) if labels else torch.empty(0, dtype=torch.long),
            "indices": torch.cat(indices) if indices else torch.empty(0, dtype=torch.long),
            "failed": failed, "partial": partial, "looped": looped, "views": views_seen, "seconds": elapsed}


@contextmanager
def _new_evaluation(folder: Path):
    """The folder of a new evaluation (proved writable by _writable before any lock): refused if it holds one
    already (an evaluation is never replaced), and removed again if this call made it and the evaluation fails
    before it is finished."""
    if (folder / EVAL).exists():
        raise ValueError(f"{folder / EVAL} exists (an evaluation is never replaced); remove that folder to "
                         f"evaluate again, or choose another --out")
    check_out_folder(folder, (PREDICTIONS, SCORES), "; evaluate into a new or empty folder")
    made = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        yield folder
    except BaseException:
        if made and not (folder / EVAL).exists():     # eval.json is written last: a signal after it finds a
            shutil.rmtree(folder, ignore_errors=True)  # finished evaluation, which is kept
        raise


def _writable(folder: Path) -> Path:
    """Refuse, before any lock, folder or compute, an --out whose nearest existing folder cannot be written."""
    return check_writable(folder, f"--out {folder}")


def list_tag(lst: Path) -> str:
    """What names an evaluation on another list: its file stem and the first 8 hex digits of its content's
    SHA-256, so two lists of the same name never share a folder."""
    return f"{lst.stem}-{hashlib.sha256(lst.read_bytes()).hexdigest()[:8]}"


def evaluate_run(run_dir: str | Path, views: str = "1x1", list_file: Optional[str] = None,
                 out: Optional[str | Path] = None, batch_videos: int = 1, max_views: int = 64,
                 average: str = "prob", workers: int = 0, progress: bool = False) -> dict:
    """Evaluate a finished run (its final weights) and write eval.json + predictions.csv into ``out``, by default
    RUN/eval_CxK (its own validation list: what the tables read) or RUN/eval_CxK_<list> for another list, so one
    evaluation never overwrites another. The run is read under a shared lock (not while it trains), the output
    folder written under an exclusive one; ``out`` is checked writable before the model is even loaded."""
    check_loader_workers(workers, "--workers")
    run_dir = Path(run_dir)
    cfg = load_config(run_dir)
    crops, clips = check_views(cfg, views)
    if RunDir(run_dir).final.exists():                       # (a run without final weights: said when loading)
        check_run_files(run_dir)                             # a damaged summary or metrics: not a finished run
    own = Path(resolve_path(cfg["data"]["root"], cfg["data"]["val_list"]))
    lst = Path(list_file) if list_file else own               # a path given on the command line: from the cwd
    if not lst.is_file():
        if not list_file:
            raise ValueError(f"{run_dir}: its validation list {lst} is missing (data.root {cfg['data']['root']} "
                             f"+ data.val_list); prepare that dataset there, or give --list FILE")
        raise ValueError(f"--list {lst}: {absent(lst)} (a path from the current folder; its entries are relative "
                         f"to the run's data root {cfg['data']['root']})")
    other = lst.resolve() != own.resolve()
    out = _writable(Path(out) if out else Path(eval_dir(run_dir, f"{crops}x{clips}", list_tag(lst) if other else None)))
    with locked(run_dir, "pst evaluate", shared=True), locked(out, f"pst evaluate {run_dir} --views {views}"):
        done = _same_evaluation(out, run_dir, lst, f"{crops}x{clips}", average)
        if done:
            return {**done, "views_per_s": None, "git": git_revision(), "already": True}
        with _new_evaluation(out):
            model, cfg = load_run_model(run_dir)             # its weights checked against their digest
            return _evaluate(model, cfg, lst, crops, clips, out,
                             {"run": str(run_dir), "weights": run_weights(run_dir)},
                             batch_videos, max_views, average, workers, progress)


def _same_evaluation(out: Path, run_dir: Path, lst: Path, views: str, average: str) -> Optional[dict]:
    """The whole evaluation ``out`` already holds when it is this one (the run's present weights, the same list,
    views and averaging, its scores as recorded), so a rerun, e.g. after a stop in the instant eval.json was
    written, finds it done; None otherwise (and an evaluation of anything else there is refused, never replaced)."""
    record = _holds(out, {"run": run_dir, "weights": run_weights(run_dir), "list": lst, "views": views,
                          "average": average})
    if record is None or not record.get("forward_pass", True) or not (out / PREDICTIONS).is_file() or \
            not (out / SCORES).is_file() or record.get("scores") != sha256sum(out / SCORES):
        return None
    return record


def _holds(out: Path, wanted: dict) -> Optional[dict]:
    """The record of ``out``'s finished evaluation when it has every ``wanted`` value (a Path compared with the
    recorded path resolved: the same file however it was named), else None: what a rerun finds done."""
    record = json_or_none(out / EVAL)
    if not isinstance(record, dict):
        return None
    for key, value in wanted.items():
        held = record.get(key)
        if isinstance(value, Path):
            held = Path(held).resolve() if isinstance(held, str) else None
            value = value.resolve()
        if held != value:
            return None
    return record


def evaluate_checkpoint(checkpoint: str | Path, cfg: dict, views: str, out: str | Path,
                        list_file: Optional[str] = None, batch_videos: int = 1, max_views: int = 64,
                        average: str = "prob", workers: int = 0, progress: bool = False) -> dict:
    """Evaluate a video checkpoint in the official layout (an authors' release) with recipe ``cfg`` (its model,
    data and test views) on its validation list or ``list_file``: the same views, loader and metrics as a run's
    evaluation, the file loaded by load_video_checkpoint (its bias index buffers checked against the model's)."""
    check_loader_workers(workers, "--workers")
    from pst.engine.build import build_model
    from pst.models.swin_checkpoints import load_video_checkpoint

    crops, clips = check_views(cfg, views)
    lst = Path(list_file) if list_file else Path(resolve_path(cfg["data"]["root"], cfg["data"]["val_list"]))
    if not lst.is_file():
        where = ("--list", "(a path from the current folder)") if list_file else \
            ("the recipe's data.val_list", "(prepare that dataset, or give --list FILE)")
        raise ValueError(f"{where[0]} {lst}: {absent(lst)} {where[1]}")
    out = _writable(Path(out))
    from pst.engine.checkpoint import digest_path

    recorded = digest_path(Path(checkpoint))            # one of our training checkpoints: its SHA-256 beside it
    if recorded.is_file() and recorded.read_text().strip() != sha256sum(checkpoint):
        raise ValueError(f"checkpoint {checkpoint}: damaged (its SHA-256 is not the one recorded in {recorded.name} "
                         "when it was written); use another checkpoint")
    with locked(out, f"pst evaluate --checkpoint {checkpoint} --views {views}"), _new_evaluation(out):
        model = build_model(cfg, None)
        try:
            missing = load_video_checkpoint(model, str(checkpoint))
        except RuntimeError as err:          # a shape differs: another width, depth or class count
            raise ValueError(f"checkpoint {checkpoint} does not fit {cfg['model']['name']} with "
                             f"{model.num_classes} classes (the dataset's classes file): "
                             f"{str(err).splitlines()[-1].strip()}") from None
        if missing:
            raise ValueError(f"checkpoint {checkpoint} lacks {len(missing)} weights of {cfg['model']['name']} "
                             f"(e.g. {missing[:3]}); is it a checkpoint of this model?")
        return _evaluate(model.eval(), cfg, lst, crops, clips, out,
                         {"checkpoint": str(checkpoint), "checkpoint_sha256": sha256sum(checkpoint),
                          "model": cfg["model"]["name"], "kwargs": cfg["model"]["kwargs"]},
                         batch_videos, max_views, average, workers, progress)


def _record(cfg: dict, probs: torch.Tensor, labels: torch.Tensor, indices: torch.Tensor, paths, out: Path,
            num_classes: int, what: dict, counts: dict) -> dict:
    """predictions.csv, then eval.json (last: its existence means the evaluation is whole), from the per-video
    probabilities; ``what`` says what was evaluated how, ``counts`` which videos were listed (and listed again),
    failed, partial or read looping."""
    metrics = accuracy(probs, labels, num_classes)
    if synthetic_set(cfg["data"]["root"]):          # twin classes: order-blindness shows here
        metrics["twin_top1"] = twin_accuracy(probs, labels)
    rows = io.StringIO()
    w = csv.writer(rows)
    w.writerow(["index", "path", "label", "pred", "prob", "top5"])
    for p, y, i in zip(probs, labels.tolist(), indices.tolist()):
        top5 = p.topk(min(5, len(p))).indices.tolist()
        w.writerow([i, paths[i], y, top5[0], f"{p[top5[0]].item():.6f}", " ".join(map(str, top5))])
    write_text(out / PREDICTIONS, rows.getvalue())
    n_ok, listed = len(labels), counts["videos_listed"]
    report = {**what, **metrics, "videos_listed": listed, "videos_evaluated": n_ok, **counts, "denominator": n_ok,
              "top1_counting_failed_as_wrong": None if not listed else (metrics["top1"] or 0) * n_ok / listed,
              "code": {"fingerprint": job_fingerprint("evaluate")}, "out": str(out)}
    write_text(out / EVAL, json.dumps(report, indent=1) + "\n")
    return report


def write_scores(path: Path, logits: torch.Tensor, labels: torch.Tensor, indices: torch.Tensor, crops: int,
                 clips: int) -> None:
    """Every view's class scores, (videos, clips x crops, classes) float32 logits in view order clip-major (view
    k * crops + c: clip k, crop c), with each video's label and list index: an .npz numpy reads, written with fixed
    zip timestamps so the same evaluation writes the same bytes (numpy's own savez stamps the current time)."""
    arrays = {"logits": logits.float().numpy(), "labels": labels.numpy(), "indices": indices.numpy(),
              "crops": np.array(crops), "clips": np.array(clips)}
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for name, array in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, array, allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, buf.getvalue())


def read_scores(path: Path) -> dict:
    """What write_scores wrote, checked: one line naming the file otherwise."""
    try:
        with np.load(path, allow_pickle=False) as z:
            out = {k: z[k] for k in ("logits", "labels", "indices", "crops", "clips")}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as err:
        raise ValueError(f"{path}: not the view scores of `pst evaluate` ({type(err).__name__}: {err}); evaluate "
                         "the run again into a new folder") from None
    v, n, _ = out["logits"].shape if out["logits"].ndim == 3 else (None, None, None)
    if v is None or n != int(out["crops"]) * int(out["clips"]) or len(out["labels"]) != v:
        raise ValueError(f"{path}: its arrays do not fit one another (logits {out['logits'].shape}, "
                         f"{int(out['crops'])}x{int(out['clips'])} views, {len(out['labels'])} labels); evaluate the "
                         "run again into a new folder")
    return out


def _evaluate(model, cfg: dict, lst: Path, crops: int, clips: int, out: Path, what: dict, batch_videos: int,
              max_views: int, average: str, workers: int, progress: bool) -> dict:
    """The evaluation itself: every view of every listed video, the metrics, eval.json and predictions.csv."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    ds = views_dataset(cfg, lst, crops, clips)
    res = predict(model, ds, device, batch_videos, max_views, average, workers, progress=progress)
    if len(ds) and not len(res["labels"]):         # nothing to score: no record that looks like an evaluation
        first = res["failed"][0][1] if res["failed"] else "?"
        raise ValueError(f"--list {lst}: none of its {len(ds)} videos could be decoded (e.g. {first}); check it "
                         f"with `pst data validate`")
    write_scores(out / SCORES, res["logits"], res["labels"], res["indices"], crops, clips)
    paths = [e.path for e in ds.entries]
    named = Counter(paths)                          # a video the list names twice is scored twice, as mmaction2's
    report = _record(cfg, res["probs"], res["labels"], res["indices"], paths, out,
                     model.num_classes,
                     {**what, "list": str(lst), "views": f"{crops}x{clips}", "crops": crops, "clips": clips,
                      "views_per_video": crops * clips, "average": average,
                      "scores": sha256sum(out / SCORES)},           # what --rescore checks it reads
                     {"videos_listed": len(ds), "videos_failed": len(res["failed"]),
                      "failed": [p for _, p in res["failed"]], "videos_partial": len(res["partial"]),
                      "partial": res["partial"], "videos_looped": len(res["looped"]), "looped": res["looped"],
                      "entries_repeated": len(ds) - len(named),
                      "repeated": sorted(p for p, n in named.items() if n > 1)})
    # how fast and by which commit: an execution record (the job's log), not part of the versioned result
    return {**report, "views_per_s": res["views"] / res["seconds"] if res["seconds"] else None,
            "git": git_revision()}


def most_views(run_dir: str | Path, holding: str) -> Optional[Path]:
    """The run's evaluation on its own list with the most views among those holding ``holding`` (its eval.json, its
    scores.npz), or None: what `--rescore` and `pst predict` take by default."""
    found = [p for p in Path(run_dir).glob("eval_*x*") if re.fullmatch(r"eval_\d+x\d+", p.name)
             and (p / holding).is_file()]
    return max(found, key=lambda p: math.prod(parse_views(p.name[len("eval_"):])), default=None)


def view_subset(crops: int, clips: int, of: tuple[int, int]) -> list[int]:
    """The view indices (clip-major, as write_scores stores them) of a CROPSxCLIPS subset of ``of``'s views: all
    crops or the centre one (ThreeCrop's third), and clips evenly spread over the source's, centred. A subset is
    not the evaluation at those views: K of 4 clips sit where 4 clips sat, not where K clips would."""
    src_crops, src_clips = of
    if crops == src_crops:
        crop_ids = list(range(src_crops))
    elif crops == 1 and src_crops == 3:
        crop_ids = [2]                                       # three_crop_offsets: left/top, right/bottom, centre
    else:
        valid = f"{src_crops} or 1 (the centre one)" if src_crops == 3 else f"{src_crops}"
        raise ValueError(f"--views {crops}x{clips}: {crops} crops are not a subset of the {src_crops} scored; CROPS "
                         f"can be {valid}")
    if not 1 <= clips <= src_clips:
        raise ValueError(f"--views {crops}x{clips}: {clips} clips are not a subset of the {src_clips} scored")
    clip_ids = [round((i + 0.5) * src_clips / clips - 0.5) for i in range(clips)]
    return [k * src_crops + c for k in clip_ids for c in crop_ids]


def rescore_run(run_dir: str | Path, views: Optional[str] = None, average: str = "prob",
                source: Optional[str] = None) -> dict:
    """Recompute an evaluation of ``run_dir`` from the view scores another kept (scores.npz), without a forward
    pass: another averaging (prob / score) and/or a subset of its views. ``source``: the views of that evaluation
    (default: the run's own-list evaluation with the most views); the result goes to its own folder,
    RUN/eval_CxK_rescored-<average>-of-<source views>, never replacing one."""
    run_dir = Path(run_dir)
    if views:
        parse_views(views)                      # a malformed --views before anything is read
    cfg = load_config(run_dir)
    if source:
        check_views(cfg, source, "--from")
        src = Path(eval_dir(run_dir, source))
        if not (src / SCORES).is_file():
            raise ValueError(f"--from {source}: {src / SCORES} does not exist; evaluate the run at {source} first "
                             "(evaluations keep their view scores)")
    else:
        src = most_views(run_dir, SCORES)
        if src is None:
            raise ValueError(f"{run_dir}: no evaluation with view scores ({SCORES}) to rescore; evaluate it first "
                             "(`pst evaluate RUN --views CxK`)")
    if not (src / EVAL).is_file():
        raise ValueError(f"{src}: no {EVAL} beside its scores (an evaluation that did not finish); evaluate again")
    record = read_record(src / EVAL, "an evaluation record of `pst evaluate`", "evaluate the run again",
                         {"list": str, "videos_listed": int})
    fix = "evaluate the run again into a new folder"
    if record.get("weights") != run_weights(run_dir):       # the weights, wherever the run was named from
        raise ValueError(f"{src / EVAL}: an evaluation of other weights than this run's final ones (its record names "
                         f"{record.get('run')!r}); {fix}")
    if record.get("scores") != sha256sum(src / SCORES):
        raise ValueError(f"{src / SCORES}: not the view scores {EVAL} recorded (its SHA-256 differs, or the "
                         f"evaluation predates recording it); {fix}")
    scores = read_scores(src / SCORES)
    of = (int(scores["crops"]), int(scores["clips"]))
    crops, clips = check_views(cfg, views) if views else of
    subset = view_subset(crops, clips, of)
    with open(src / PREDICTIONS, newline="") as fh:
        paths = {int(r["index"]): r["path"] for r in csv.DictReader(fh)}
    tag = f"rescored-{average}-of-{of[0]}x{of[1]}"
    out = _writable(Path(eval_dir(run_dir, f"{crops}x{clips}", tag)))
    with locked(run_dir, "pst evaluate --rescore", shared=True), locked(out, f"pst evaluate --rescore {run_dir}"):
        done = _holds(out, {"weights": record.get("weights"), "average": average, "views": f"{crops}x{clips}",
                            "rescored_from": src / SCORES})
        if done:
            return {**done, "already": True}        # the same rescoring, whole (a rerun): nothing to do
        with _new_evaluation(out):
            return _rescore(cfg, scores, subset, paths, out, run_dir, record, src, crops, clips, average)


def _rescore(cfg: dict, scores: dict, subset: list[int], paths: dict, out: Path, run_dir: Path, record: dict,
             src: Path, crops: int, clips: int, average: str) -> dict:
    """A rescoring's eval.json and predictions.csv from the kept view scores ``subset``."""
    logits = torch.from_numpy(scores["logits"][:, subset])
    probs = aggregate(logits, average) if len(logits) else torch.empty(0, 0)
    # the videos its source counted (failed, partial, looped, listed twice): None where the source predates a count
    return _record(cfg, probs, torch.from_numpy(scores["labels"]), torch.from_numpy(scores["indices"]), paths,
                   out, scores["logits"].shape[-1],
                   {"run": str(run_dir), "weights": record.get("weights"), "rescored_from": str(src / SCORES),
                    "forward_pass": False,
                    "list": record["list"], "views": f"{crops}x{clips}", "crops": crops, "clips": clips,
                    "views_per_video": crops * clips, "average": average, "view_indices": subset},
                   {**{k: record[k] for k in ("videos_listed", "videos_failed", "failed", "videos_partial", "partial")},
                    **{k: record.get(k) for k in ("videos_looped", "looped", "entries_repeated", "repeated")}})
