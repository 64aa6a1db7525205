"""Test fixtures for the data layer: a loopback HTTP server with Range support and tiny datasets in each
dataset's real layout, made with real encoders (PyAV) at test time."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import tarfile
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from pst.datasets.synthetic import SynthConfig, render_clip, write_video


class RangeHandler(SimpleHTTPRequestHandler):
    """Static files with single byte ranges (206), an ETag that If-Range is checked against (as S3 does: another
    file's validator gets the whole file, 200), and a switch that cuts a path's first transfer in half."""

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        server = self.server
        server.requests.append((self.path, self.headers.get("Range")))
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = 0
        etag = f'"{hashlib.sha256(data).hexdigest()[:16]}"'
        rng = self.headers.get("Range")
        if rng and self.headers.get("If-Range", etag) != etag:       # the file changed since: all of it
            rng = None
        if rng:
            m = re.match(r"bytes=(\d+)-$", rng)
            start = int(m.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", etag)
        self.end_headers()
        if self.path in server.cut_once:
            server.cut_once.discard(self.path)
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.wfile.write(body)


class LocalServer:
    def __init__(self, directory: Path):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(RangeHandler, directory=str(directory)))
        self.httpd.requests = []
        self.httpd.cut_once = set()
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


TINY = SynthConfig(pairs=2, frames=10, size=32, fps=8)


def tiny_video(path: Path, label: int = 0, seed: int = 0, size: int = 32, frames: int = 10, height: int = None):
    cfg = SynthConfig(pairs=2, frames=frames, size=size, fps=8)
    clip = render_clip(label, seed, cfg)
    if height is not None:
        clip = np.ascontiguousarray(clip[:, :height])
    write_video(clip, path, cfg.fps)
    return path


def webm_video(path: Path, seed: int = 0):
    """A VP9 webm, as Something-Something V2 ships."""
    import av

    clip = render_clip(0, seed, TINY)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w", format="webm") as c:
        s = c.add_stream("libvpx-vp9", rate=12)
        s.width, s.height, s.pix_fmt = clip.shape[2], clip.shape[1], "yuv420p"
        for f in clip:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def make_tar(path: Path, files: dict[str, Path]):
    with tarfile.open(path, "w:gz") as tf:
        for name, src in files.items():
            tf.add(src, arcname=name)
    return path


def kinetics_mirror(root: Path, work: Path, val: int = 2) -> dict:
    """ROOT/kinetics/400/... like the CVD mirror: annotations, path lists with official URLs, part archives; ``val``
    validation clips are served and one more is listed but lost."""
    base = root / "kinetics" / "400"
    labels = ["abseiling", "air drumming", "\"archery, indoor\""]
    rows = {"train": [], "val": []}
    clips = {"train": {}, "val": {}}
    k = 0
    for split, n in (("train", 4), ("val", val + 1)):
        for i in range(n):
            label = labels[i % 3].strip('"')
            yid = f"yt{split}{i}-_x"
            name = f"{yid}_{10 * i:06d}_{10 * i + 10:06d}.mp4"
            rows[split].append({"label": label, "youtube_id": yid, "time_start": 10 * i, "time_end": 10 * i + 10,
                                "split": split})
            if not (split == "val" and i == val):        # one clip lost to YouTube attrition
                clips[split][f"{split}/{name}" if split == "val" else name] = tiny_video(
                    work / f"{split}_{name}", i % 2, seed=k, height=24)
            k += 1
    (base / "annotations").mkdir(parents=True)
    for split in ("train", "val"):
        with open(base / "annotations" / f"{split}.csv", "w", newline="") as fh:
            w = csv.DictWriter(fh, ["label", "youtube_id", "time_start", "time_end", "split", "is_cc"])
            w.writeheader()
            for r in rows[split]:
                w.writerow({**r, "is_cc": 0})
        (base / split).mkdir()
        make_tar(base / split / "part_0.tar.gz", clips[split])
        (base / split / f"k400_{split}_path.txt").write_text(
            f"https://s3.amazonaws.com/kinetics/400/{split}/part_0.tar.gz\n")
    return {"base": base, "train": 4, "val": val, "val_missing": 1}


def diving48_mirror(root: Path, work: Path, train: int = 3, test: int = 1) -> dict:
    base = root / "resound"
    base.mkdir(parents=True)
    vids = {f"rgb/clip{i}.mp4": tiny_video(work / f"dv{i}.mp4", i % 2, seed=100 + i) for i in range(train + test)}
    make_tar(base / "Diving48_rgb.tar.gz", vids)
    (base / "Diving48_vocab.json").write_text(json.dumps([["Back", "15som", "05Twis", "FREE"], ["Inward", "25som",
                                                                                                "NoTwis", "PIKE"]]))
    for split, ids in (("train", list(range(train))), ("test", list(range(train, train + test)))):
        (base / f"Diving48_V2_{split}.json").write_text(json.dumps(
            [{"vid_name": f"clip{i}", "label": i % 2, "start_frame": 0, "end_frame": 9} for i in ids]))
    return {"base": base}


DATA = Path(__file__).parent / "data"


def ss_classes() -> list[str]:
    """The 174 Something-Something class names in the order of SSv1's own labels file (tests/data/README.md)."""
    return (DATA / "something-something-v1-labels.csv").read_text().splitlines()


def place_sthv2(raw: Path, work: Path, parts: int = 20, train: int = 2, val: int = 1) -> dict:
    raw.mkdir(parents=True, exist_ok=True)
    labels = {name: str(i) for i, name in enumerate(sorted(ss_classes()))}    # the real file's ids
    (raw / "something-something-v2-labels.json").write_text(json.dumps(labels, indent=4))
    templates = ["Pushing [something] from left to right", "Holding [something]"]
    items = {"train": [(1 + i, templates[i % 2]) for i in range(train)],
             "validation": [(1 + train + i, templates[(i + 1) % 2]) for i in range(val)],
             "test": [(1 + train + val, None)]}
    vids = {}
    for split, rows in items.items():
        data = []
        for vid, template in rows:
            vids[f"20bn-something-something-v2/{vid}.webm"] = webm_video(work / f"{vid}.webm", seed=vid)
            if template is not None:
                data.append({"id": str(vid), "label": template.replace("[", "").replace("]", "").lower(),
                             "template": template, "placeholders": ["something"]})
            else:
                data.append({"id": str(vid)})
        (raw / f"something-something-v2-{split}.json").write_text(json.dumps(data))
    blob = io.BytesIO()
    with tarfile.open(fileobj=blob, mode="w:gz") as tf:
        for name, src in vids.items():
            tf.add(src, arcname=name)
    data = blob.getvalue()
    step = -(-len(data) // parts)
    for i in range(parts):
        (raw / f"20bn-something-something-v2-{i:02d}").write_bytes(data[i * step:(i + 1) * step])
    return {"train": train, "val": val}


def place_sthv1(raw: Path, train: int = 2, val: int = 1) -> dict:
    from PIL import Image

    raw.mkdir(parents=True, exist_ok=True)
    (raw / "something-something-v1-labels.csv").write_text("".join(f"{c}\n" for c in ss_classes()))
    labels = ["Holding something", "Pushing something from left to right"]
    ids = {"train": [11 + i for i in range(train)], "validation": [11 + train + i for i in range(val)]}
    for split, vids in ids.items():
        (raw / f"something-something-v1-{split}.csv").write_text("".join(f"{v};{labels[v % 2 == 0]}\n" for v in vids))
    for vid in ids["train"] + ids["validation"]:
        n = 5 + (vid - 10) % 3            # 6, 7, 5, ... frames
        folder = raw / "20bn-something-something-v1" / str(vid)
        folder.mkdir(parents=True)
        for i in range(1, n + 1):     # 1-based, as the dataset ships; pixel value = frame number
            Image.fromarray(np.full((24, 32, 3), 10 * i, dtype=np.uint8)).save(folder / f"{i:05d}.jpg", quality=100)
    return {"train": train, "val": val}


def write_official_checkpoint(model, path: Path) -> Path:
    """``model`` (a PST/Swin built with bias="official") saved as the official code saves a checkpoint: mmcv's
    {"meta", "state_dict"} with ``backbone.*`` and ``cls_head.fc_cls.*`` keys and every block's bias index
    buffers (``relative_position_index`` in patch-shift blocks, ``relative_position_index_old`` elsewhere)."""
    import torch

    from pst.models.swin_checkpoints import relative_position_buffers

    state = {f"backbone.{k}": v for k, v in model.state_dict().items() if not k.startswith("head.")}
    state["cls_head.fc_cls.weight"] = model.head.weight.detach().clone()
    state["cls_head.fc_cls.bias"] = model.head.bias.detach().clone()
    state.update({f"backbone.{k}": v for k, v in relative_position_buffers(model).items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"meta": {"mmcv_version": "1.3.8", "epoch": 30, "iter": 1, "CLASSES": None}, "state_dict": state},
               path)
    return path
