"""Builders from a recipe, shared by `pst train`, `pst evaluate` and the figures (as PySlowFast's models/build.py
and datasets/loader.py serve its train and test tools): the model, the sampling, the training set, the test
views, and a finished run's model. One place decides how a recipe becomes each of them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch
from torch.utils.data import DataLoader

from pst.data.annotations import read_classes
from pst.data.dataset import VideoDataset, collate
from pst.data.mirror import flip_ids
from pst.data.sampling import Sampling
from pst.data.transforms import TestTransform, TrainTransform
from pst.engine.checkpoint import load_weights
from pst.engine.config import create_model, resolve_path
from pst.engine.run import ignore_stop_signals, load_config
from pst.layout import final_weights, legacy_final_weights


def class_count(cfg: dict) -> int:
    """The class count of the recipe's classes file (what labels are checked against)."""
    d = cfg["data"]
    return len(read_classes(resolve_path(d["root"], d["classes"])))


def build_model(cfg: dict, num_classes: Optional[int], run_dir: Optional[Path] = None) -> torch.nn.Module:
    model = create_model(cfg, class_count(cfg) if num_classes is None else num_classes)
    if cfg["train"]["activation_checkpointing"]:
        model.set_grad_checkpointing(True)
    return model


def sampling(cfg: dict, clips: int = 1) -> Sampling:
    """The recipe's frame sampling with ``clips`` clips per video (test views along time)."""
    s = cfg["data"]["sampling"]
    return Sampling(s["mode"], s["clip_len"], s["frame_interval"], clips)


def test_transform(cfg: dict, crops: int, short_side: Optional[int] = None) -> TestTransform:
    """``crops`` test crops of ``data.val.size``; the short side defaults to ``data.test.short_side`` (or the crop
    size, so three crops cover the long side)."""
    d = cfg["data"]
    size = d["val"]["size"]
    return TestTransform(size, short_side or d["test"]["short_side"] or size, crops, resize=d["resize"])


def _frames(d: dict) -> dict:
    """How the recipe's lists are read: videos with its decoder (minus those validation could not trust), or frame
    folders named by a template from a start index."""
    from pst.datasets.validate import read_bad

    bad = None
    if d["bad_videos"]:                 # named but missing: the videos it leaves out would be read, unseen
        path = resolve_path(d["root"], d["bad_videos"])
        if not path.is_file():
            raise FileNotFoundError(f"recipe data.bad_videos: {path} not found; run `pst data validate` to write "
                                    "it, or set data.bad_videos to null")
        bad = read_bad(path)
    return {"modality": d["modality"], "frame_tmpl": d["frame_template"], "frame_start": d["frame_start"],
            "decoder": d["decoder"], "bad": bad}


def train_dataset(cfg: dict) -> VideoDataset:
    """The recipe's training set: one clip per video (or ``repeated_augmentation`` clips) with the training
    transform; uint8 clips where the recipe normalises on the device."""
    d, tr = cfg["data"], cfg["data"]["train"]
    classes_file = resolve_path(d["root"], d["classes"])
    no_flip, pairs = flip_ids(tr["no_flip_classes"], tr["flip_pairs"], read_classes(classes_file), str(classes_file))
    transform = TrainTransform(size=tr["size"], short_side=tr["short_side"], area=tuple(tr["area"]), flip=tr["flip"],
                               no_flip_labels=no_flip, flip_pairs=pairs,
                               randaugment=tr["randaugment"], erasing=tr["erasing"], resize=d["resize"],
                               sign_sets=max(1, cfg["train"]["global_batch"] // cfg["train"]["batch_per_device"]),
                               seed=cfg["train"]["seed"], uint8=d["normalize"] == "device")
    return VideoDataset(d["root"], resolve_path(d["root"], d["train_list"]), sampling(cfg), transform,
                        cache=d["cache_videos"], num_classes=class_count(cfg), repeats=tr["repeated_augmentation"],
                        **_frames(d))


def loader_worker(worker_id: int = 0) -> None:
    """A loader worker's start: deaf to the stop signals (pst.engine.run) and one thread for OpenCV's resize as for
    torch (DataLoader's own setting), so N workers use N cores."""
    import cv2

    ignore_stop_signals(worker_id)
    cv2.setNumThreads(1)


def loader(dataset, workers: int = 0, seed: int = 0, batch_size: int = 1, sampler=None, batch_sampler=None,
           pin_memory: bool = False, persistent: bool = False, prefetch: Optional[int] = None) -> DataLoader:
    """The one DataLoader of training, evaluation and the loader benchmark: ``workers`` processes that start deaf
    to the stop signals with one OpenCV thread each (loader_worker), batches collated the dataset's way, and a
    generator of its own seeded with ``seed``: starting workers never draws from torch's global RNG, which the
    model's dropout uses (a resumed run would be one draw apart); samples draw from their own seeds."""
    order = {"batch_sampler": batch_sampler} if batch_sampler is not None else {"batch_size": batch_size,
                                                                               "sampler": sampler}
    return DataLoader(dataset, **order, num_workers=workers, collate_fn=collate,
                      generator=torch.Generator().manual_seed(seed), worker_init_fn=loader_worker,
                      pin_memory=pin_memory, persistent_workers=workers > 0 and persistent,
                      prefetch_factor=prefetch if workers else None)


def views_dataset(cfg: dict, list_file: str | Path, crops: int, clips: int,
                  short_side: Optional[int] = None) -> VideoDataset:
    """Test-mode dataset of a recipe: ``clips`` x ``crops`` views of ``data.val.size``; the short side defaults to
    ``data.test.short_side`` (or the crop size, so three crops cover the long side)."""
    d = cfg["data"]
    return VideoDataset(d["root"], list_file, sampling(cfg, clips), test_transform(cfg, crops, short_side),
                        test=True, cache=d["cache_videos"], num_classes=class_count(cfg), **_frames(d))


def load_run_model(run_dir: str | Path) -> tuple[torch.nn.Module, dict]:
    """A finished run's model with its final weights (on the CPU, eval mode), and its recipe."""
    cfg = load_config(run_dir)
    final, legacy = Path(final_weights(run_dir)), Path(legacy_final_weights(run_dir))
    if not final.is_file() and not legacy.is_file():
        raise FileNotFoundError(f"{final}: the run has not finished training; run `pst train` to completion first")
    model = build_model(cfg, None, run_dir=run_dir)
    state = load_weights(final) if final.is_file() else \
        torch.load(legacy, map_location="cpu", weights_only=True)                    # finished before safetensors
    try:
        model.load_state_dict(state)
    except RuntimeError as err:             # weights of another model, or of another class count
        why = " ".join(str(err).split())
        raise ValueError(f"{final if final.is_file() else legacy}: not the weights of the model its config.yaml "
                         f"and classes file describe ({why[:240]}); restore the run's config and classes as they "
                         "were when it trained, or train it again into a new folder") from None
    return model.eval(), cfg
