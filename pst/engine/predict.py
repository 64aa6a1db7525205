"""`pst predict`: a finished run's top-5 classes for any video file or frame folder, with the run's recipe and test
views, scored as an evaluation scores them (the same reader, views, model and averaging)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import torch

from pst.data.annotations import read_classes
from pst.data.dataset import frame_count, read_clips, test_views
from pst.data.sampling import clip_loops
from pst.data.video import header
from pst.engine.build import load_run_model, sampling, test_transform
from pst.engine.config import check_views, resolve_path
from pst.engine.evaluate import aggregate, most_views
from pst.io import absent
from pst.layout import EVAL


def predict_videos(run_dir: str | Path, videos: list[str | Path], views: Optional[str] = None,
                   average: str = "prob", top: int = 5) -> dict:
    """{"views", "classes", "videos": [{"video", "top": [(class name, probability)], "partial", "looped"}]}; a video
    that cannot be read is one ValueError naming it (checked for every video before the model is loaded)."""
    for v in videos:
        if not Path(v).is_file() and not Path(v).is_dir():     # a FIFO or device would block the decoder
            raise ValueError(f"{v}: {absent(v)}; give a video file or a frame folder")
    from pst.engine.run import load_config

    cfg = load_config(run_dir)
    own = most_views(run_dir, EVAL)                 # the views its table reports
    views = views or (own.name[len("eval_"):] if own else "1x1")
    crops, clips = check_views(cfg, views)
    d = cfg["data"]
    names = read_classes(resolve_path(d["root"], d["classes"]))
    transform, s = test_transform(cfg, crops), sampling(cfg, clips)
    inputs = []
    for v in videos:
        path = Path(v)
        num_frames = frame_count(path, d["frame_template"], d["frame_start"]) if path.is_dir() else None
        try:
            if num_frames is None:
                header(path)                 # not a video: said by PyAV, before a decoder logs its own line
            frames, partial, seen = read_clips(path, num_frames, s, True, np.random.default_rng(0),
                                               d["frame_template"], d["frame_start"], d["decoder"])
        except Exception as err:  # noqa: BLE001 - any decoder's failure: one line naming the file
            why = (str(err).strip().splitlines() or [""])[0][:160]
            raise ValueError(f"{path}: cannot be read as a video or frame folder ({type(err).__name__}: {why}); "
                             "`pst data validate` says why") from None
        if frames.shape[1] != 3:
            raise ValueError(f"{path}: {frames.shape[1]} channels per frame; the model takes RGB (3)")
        inputs.append((path, test_views(frames, transform, s), partial, clip_loops(seen, s)))
    model, cfg = load_run_model(run_dir)
    out = []
    with torch.no_grad():
        for path, clip_views, partial, looped in inputs:
            probs = aggregate(model(clip_views)[None], average)[0]
            p, i = probs.topk(min(top, len(probs)))
            out.append({"video": str(path), "partial": partial, "looped": looped,
                        "top": [(names[c], float(q)) for q, c in zip(p.tolist(), i.tolist())]})
    return {"views": f"{crops}x{clips}", "average": average, "classes": len(names), "videos": out}
