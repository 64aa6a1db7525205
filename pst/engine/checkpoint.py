"""Checkpoints written atomically (temp file, fsync, rename) and loaded with ``weights_only=True``; a finished
run's weights as safetensors.

A checkpoint holds model, optimizer, scheduler, grad scaler, RNG states and the sampler position, so restarting
the same command continues exactly where the last one stopped. A file that fails to load is skipped (with a
warning) for the one before it; a torn file cannot exist because only complete files are renamed into place.

Every file a later step trusts carries a SHA-256 recorded when it was written and checked when it is read (torch.load
reads a flipped byte inside a tensor without complaint): a checkpoint's in ``<name>.sha256`` beside it, written
before the checkpoint is renamed into place (so a checkpoint without one predates them), the final weights' in their
own safetensors header (metadata ``pst_sha256``, over each tensor's name, dtype, shape and bytes). A checkpoint that
does not match is skipped like one that does not load; final weights that do not match are refused.

Final weights are safetensors, not torch.save: torch's zip names its records after the (temporary) file and adds a
random serialization id, so the same weights saved twice differ; safetensors of the same tensors are the same bytes.
"""
from __future__ import annotations

# torch is imported by the functions that touch tensors: naming a run's weights (records, tables, `pst status`)
# reads a file header and starts without it (~2 s a process).
import warnings
from pathlib import Path
from typing import Optional

from pst.io import atomic_path, sha256sum, write_text
from pst.layout import RunDir, final_weights, legacy_final_weights

DIGEST_KEY = "pst_sha256"                 # the final weights' own checksum, in their safetensors metadata


def digest_path(checkpoint: Path) -> Path:
    """Where a checkpoint's SHA-256 is kept."""
    return checkpoint.with_name(checkpoint.name + ".sha256")


def save(folder: Path, epoch: int, step: int, state: dict, keep: int = 2) -> Path:
    import torch

    path = Path(folder) / RunDir.CHECKPOINT_NAME.format(epoch=epoch, step=step)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
        write_text(digest_path(path), sha256sum(tmp) + "\n")     # before the checkpoint itself appears
    for old in list_checkpoints(folder)[:-keep] if keep > 0 else []:
        _remove(old)
    return path


def _remove(checkpoint: Path) -> None:
    checkpoint.unlink(missing_ok=True)
    digest_path(checkpoint).unlink(missing_ok=True)


def prune_finished(folder: Path, keep: str) -> None:
    """A finished run's checkpoints: the last (to train it further), all, or none (its final weights are what
    evaluation reads); called only once the final weights and train.json are written, and again by a rerun of the
    finished run (a kill during the pruning left some)."""
    found = list_checkpoints(folder)
    for old in {"last": found[:-1], "all": [], "none": found}[keep]:
        _remove(old)
    for digest in Path(folder).glob("ckpt_*.pt.sha256"):      # a kill between a checkpoint's two unlinks
        if not digest.with_name(digest.name[:-len(".sha256")]).exists():
            digest.unlink(missing_ok=True)


list_checkpoints = RunDir.list_checkpoints


def load_latest(folder: Path) -> Optional[dict]:
    """The newest checkpoint that loads; temp files left by a killed write are removed first."""
    import torch

    for stale in Path(folder).glob(".ckpt_*.tmp"):
        stale.unlink(missing_ok=True)
    for path in reversed(list_checkpoints(folder)):
        recorded = digest_path(path)
        if recorded.is_file() and recorded.read_text().strip() != sha256sum(path):
            warnings.warn(f"checkpoint {path} is damaged (its SHA-256 is not the one recorded when it was written, "
                          f"{recorded.name}); trying the previous one", RuntimeWarning)
            continue
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - an unreadable checkpoint: fall back to the previous one
            why = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__     # a zero-byte file says ""
            warnings.warn(f"checkpoint {path} cannot be loaded ({why}); trying the previous one", RuntimeWarning)
    return None


def rng_state() -> dict:
    import random

    import numpy as np
    import torch
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss)]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    import random

    import numpy as np
    import torch
    torch.set_rng_state(state["torch"])
    random.setstate(_tuples(state["python"]))
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _tuples(x):
    """weights_only loading returns lists where random/numpy states had tuples."""
    if isinstance(x, list):
        return tuple(_tuples(v) for v in x)
    return x


def tensors_digest(tensors: dict) -> str:
    """SHA-256 over each tensor's name, dtype, shape and bytes, in name order: what the final weights record."""
    import hashlib

    import torch

    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def save_weights(state: dict, path: str | Path) -> Path:
    """A model's state dict as safetensors, atomically, with its digest in the header: the same tensors give the
    same bytes."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={DIGEST_KEY: tensors_digest(tensors)})
    return Path(path)


def _checked_header(path: Path) -> dict:
    """A final-weights file's safetensors header, refused when the file's size is not what the header describes
    (a truncated copy, a damaged disk): such a file is never taken as a finished run's weights."""
    import json as _json
    import struct

    size = path.stat().st_size
    try:
        with open(path, "rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
            header = _json.loads(fh.read(n)) if 0 < n < size else None
        end = 8 + n + max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    except (struct.error, ValueError, TypeError, KeyError, AttributeError):
        end = None
    if end != size:
        raise ValueError(f"{path}: damaged or truncated ({size} bytes" + (f", its header describes {end})"
                         if end else ", no readable header)") + "; remove it and train.json to write it again from "
                         "the run's last checkpoint, or train the run again")
    return header


def load_weights(path: str | Path) -> dict:
    """Final weights, checked: their size against their header, their tensors against the digest recorded in that
    header when they were written, every value finite."""
    import torch
    from safetensors.torch import load_file

    path = Path(path)
    recorded = weights_digest(path)
    tensors = load_file(str(path), device="cpu")
    fix = "remove it and train.json to write it again from the run's last checkpoint, or train the run again"
    if recorded is None:
        raise ValueError(f"{path}: no SHA-256 in its header (not final weights `pst train` wrote, or its header was "
                         f"rewritten); {fix}")
    if recorded != tensors_digest(tensors):
        raise ValueError(f"{path}: damaged (its tensors do not match the SHA-256 recorded when it was written); {fix}")
    bad = next((k for k, v in tensors.items() if v.is_floating_point() and not torch.isfinite(v).all()), None)
    if bad is not None:
        raise ValueError(f"{path}: {bad} holds NaN or infinite values (a diverged training); train the run again "
                         "with a lower learning rate")
    return tensors


def weights_digest(path: str | Path) -> Optional[str]:
    """The SHA-256 final weights recorded in their header when written (None: none recorded); the file's size is
    checked against the header first. What an evaluation names the weights it scored by."""
    return (_checked_header(Path(path)).get("__metadata__") or {}).get(DIGEST_KEY)


def run_weights(run_dir: str | Path) -> str:
    """What names a finished run's weights in its evaluations: the digest its final weights recorded, or the
    SHA-256 of a legacy final.pt; a table refuses an evaluation of other weights than the run has now."""
    final, legacy = Path(final_weights(run_dir)), Path(legacy_final_weights(run_dir))
    if final.is_file():
        return weights_digest(final) or "unrecorded"
    return f"file {sha256sum(legacy)}" if legacy.is_file() else "none"


def adopt_legacy_weights(run_dir: str | Path) -> Optional[Path]:
    """A run finished before final weights were safetensors has ``final.pt`` (torch.save): write the same tensors
    as the current final weights beside it (kept), so the run stays finished and is never trained again."""
    import torch

    old, new = Path(legacy_final_weights(run_dir)), Path(final_weights(run_dir))
    if not old.is_file() or new.exists():
        return None
    return save_weights(torch.load(old, map_location="cpu", weights_only=True), new)
