"""GradCAM of the last stage, per frame (supplement Section 4, Fig. 2), with pytorch-grad-cam.

The library wants activations laid out (N, C, h, w). Our models' last-stage tokens are per frame: DeiT gives
(B·T, 1 + h·w, C) (class token first), PST gives (B, T', h, w, C). The reshape transforms below drop the class
token and put the tokens back onto each frame's grid, so one map per frame comes out.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
from torch import nn


def deit_reshape(grid: tuple[int, int]) -> Callable[[torch.Tensor], torch.Tensor]:
    """(B·T, 1 + h·w, C) -> (B·T, C, h, w): class token dropped."""
    def f(x: torch.Tensor) -> torch.Tensor:
        bt, n, c = x.shape
        return x[:, n - grid[0] * grid[1]:].reshape(bt, grid[0], grid[1], c).permute(0, 3, 1, 2)
    return f


def swin_reshape(x: torch.Tensor) -> torch.Tensor:
    """(B, T', h, w, C) -> (B·T', C, h, w)."""
    b, t, h, w, c = x.shape
    return x.reshape(b * t, h, w, c).permute(0, 3, 1, 2)


def target_layer(model: nn.Module) -> tuple[nn.Module, Optional[Callable]]:
    """The last block's first norm and the reshape that puts its tokens on the frame grid."""
    from pst.models import PatchShiftSwin, VideoDeiT

    if isinstance(model, VideoDeiT):
        return model.blocks[-1].norm1, deit_reshape(tuple(model.patch_embed.grid_size))
    if isinstance(model, PatchShiftSwin):
        return model.layers[-1].blocks[-1].norm1, swin_reshape
    raise ValueError(f"cam: no target layer known for {type(model).__name__}; pass target and reshape")


def frame_cams(model: nn.Module, clip: torch.Tensor, label: Optional[int] = None,
               target: Optional[nn.Module] = None, reshape: Optional[Callable] = None) -> np.ndarray:
    """(T_maps, H, W) GradCAM maps in [0, 1] for one clip (1, C, T, H, W) and class ``label`` (default: predicted).

    T_maps is the number of temporal positions of the last stage (T for DeiT, T / temporal patch for PST).
    """
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    if clip.dim() != 5 or clip.shape[0] != 1:
        raise ValueError(f"clip: expected one clip (1, C, T, H, W), got {tuple(clip.shape)}")
    if target is None:
        target, reshape = target_layer(model)
    model.eval()
    # The library sizes its maps from the input's trailing dims (3 for a 5-D clip); it gets the frames as a batch
    # (T, C, H, W) instead, and this wrapper puts the clip back together for the model.
    with GradCAM(model=_FramesAsBatch(model), target_layers=[target], reshape_transform=reshape) as cam:
        targets = None if label is None else [ClassifierOutputTarget(int(label))]
        maps = cam(input_tensor=clip[0].transpose(0, 1), targets=targets)   # (T_maps, H, W), each scaled to [0, 1]
    return np.asarray(maps, dtype=np.float32)


class _FramesAsBatch(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.model(frames.transpose(0, 1).unsqueeze(0))


def read_clip(cfg: dict, video: str | Path, num_frames: Optional[int] = None) -> tuple[torch.Tensor, np.ndarray]:
    """The test clip of a video (or of a frame folder of ``num_frames`` JPGs) as the run sees it (centre crop, one
    clip) and its RGB frames for display."""
    from pst.data.dataset import frame_count, read_clips
    from pst.data.transforms import MEAN, STD
    from pst.engine.build import sampling, test_transform

    d = cfg["data"]
    if num_frames is None and Path(video).is_dir():     # a frame folder given by hand: its frames, counted
        try:
            num_frames = frame_count(video, d["frame_template"], d["frame_start"])
        except ValueError as err:
            raise ValueError(f"--video {err}") from None
    try:
        frames = read_clips(video, num_frames, sampling(cfg), True, np.random.default_rng(0), d["frame_template"],
                            d["frame_start"])[0]
    except Exception as err:  # noqa: BLE001 - any decoder's failure: one line naming the file
        why = (str(err).strip().splitlines() or [""])[0][:160]
        raise ValueError(f"--video {video}: cannot be read as a video or frame folder ({type(err).__name__}: "
                         f"{why}); `pst data validate` says why") from None
    views = test_transform(cfg, crops=1)(frames)                                  # (1, C, T, H, W), normalised
    mean, std = (torch.tensor(v).view(3, 1, 1, 1) / 255 for v in (MEAN, STD))
    rgb = (views[0] * std + mean).clamp(0, 1).permute(1, 2, 3, 0).numpy()        # (T, H, W, 3)
    return views, rgb


def figure(runs: dict[str, str | Path], videos: list, out: str | Path, frames: int = 4) -> Path:
    """Supplement Fig. 2 layout: per video, ``frames`` consecutive frames (rows); the input, then each model's map
    overlaid (columns). PNG (and SVG when ``out`` ends in .svg). A video is a path, or (frame folder, number of
    frames) as a frame-folder list names it."""
    from pytorch_grad_cam.utils.image import show_cam_on_image

    from pst.engine.build import load_run_model
    from pst.report.plots import pyplot, save_figure

    plt = pyplot()
    models = {name: load_run_model(run) for name, run in runs.items()}
    first_cfg = next(iter(models.values()))[1]
    rows = []
    for item in videos:
        video, num_frames = item if isinstance(item, tuple) else (item, None)
        _, rgb = read_clip(first_cfg, video, num_frames)
        cols = [("input", rgb)]
        for name, (model, cfg) in models.items():
            clip, rgb_m = read_clip(cfg, video, num_frames)
            maps = frame_cams(model, clip)
            per_frame = np.repeat(maps, rgb_m.shape[0] // len(maps), axis=0)       # PST: one map per 2 frames
            cols.append((name, np.stack([show_cam_on_image(f, m, use_rgb=True) / 255.0
                                         for f, m in zip(rgb_m, per_frame)])))
        rows += [(Path(video).stem, k, cols) for k in range(min(frames, len(rgb)))]
    fig, axes = plt.subplots(len(rows), len(rows[0][2]), figsize=(1.4 * len(rows[0][2]), 1.4 * len(rows)),
                             squeeze=False)
    for r, (video, k, cols) in enumerate(rows):
        for c, (name, imgs) in enumerate(cols):
            ax = axes[r][c]
            ax.imshow(imgs[k])
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(name, fontsize=8)
            if c == 0:
                ax.set_ylabel(f"{video[:18]}\nframe {k}", fontsize=6)
    fig.tight_layout()
    out = save_figure(fig, out)
    plt.close(fig)
    return out


def figure_of_runs(runs: list[str], names: list[str] | None, videos: list, videos_from: str | None, count: int,
                   frames: int, out: str | Path) -> Path:
    """`pst cam`: ``figure`` of finished runs (columns titled ``names``, default their seed folders' parents) on
    ``videos`` and on the first video of ``count`` classes of the list ``videos_from``; every input checked before
    a model is loaded, never over an image pst did not draw."""
    from pst.data.annotations import read_list
    from pst.engine.build import class_count
    from pst.engine.run import load_config
    from pst.report.plots import check_figure

    check_figure(out)                  # never a user's image, and before any model is loaded
    videos = list(videos)
    if any(not n.strip() for n in names or []):
        raise ValueError("--name: an empty title; give each run's column a name, or leave --name out")
    names = names or [Path(r).parent.name for r in runs]
    if len(names) != len(runs):
        raise ValueError(f"{len(names)} --name for {len(runs)} runs; give one name per run or none")
    if videos_from:
        cfg = load_config(runs[0])                            # the list is of the runs' dataset: its entries are
        seen, root = set(), Path(cfg["data"]["root"])        # under its root, as `pst evaluate --list` reads them
        for e in read_list(videos_from, class_count(cfg), modality=cfg["data"]["modality"]):
            if e.label not in seen and len(seen) < count:
                seen.add(e.label)
                videos.append((root / e.path, e.num_frames))
        if len(seen) < count:                                 # said, not a silent cap
            print(f"pst cam: --count {count}: {videos_from} has videos of {len(seen)} classes; drawing "
                  f"{len(seen)}", file=sys.stderr)
    if not videos:
        raise ValueError("no video; pass --video PATH or --videos-from LIST")
    for v in videos:
        path = Path(v[0] if isinstance(v, tuple) else v)
        if not path.exists():
            raise ValueError(f"{path}: no such video file or frame folder; pass --video with an existing path")
    clip = min(load_config(run)["data"]["sampling"]["clip_len"] for run in runs)   # a non-run: one line
    if frames > clip:
        raise ValueError(f"--frames {frames}: the runs' clips have {clip} frames; show 1 to {clip}")
    return figure(dict(zip(names, runs)), videos, out, frames=frames)
