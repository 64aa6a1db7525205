"""Plots of a study table: training curves (loss and validation top-1 per epoch, one line per variant, the band
is the spread over seeds) and accuracy vs GFLOPs of the table's rows. Each figure is written as PNG and SVG."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pst.io import check_not_inside, check_writable, read_record, write_texts
from pst.layout import RunDir


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend (jobs have no display), drawing with matplotlib's own DejaVu
    fonts: a system copy of another version (Debian's fonts-dejavu, which FFmpeg's packages pull in) numbers its
    glyphs otherwise, and the SVGs' glyph ids, so a figure's bytes would depend on the machine's fonts."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import font_manager

    manager, bundled = font_manager.fontManager, Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    if not any(Path(f.fname).parent == bundled for f in manager.ttflist if f.name == "DejaVu Sans"):
        manager.ttflist = [f for f in manager.ttflist if not f.name.startswith("DejaVu")]
        for ttf in sorted(bundled.glob("DejaVu*.ttf")):
            manager.addfont(str(ttf))
    import matplotlib.pyplot as plt
    return plt


CREATOR = "pst"        # in every figure's metadata: what tells a figure of ours from a user's file of that name


def save_figure(fig, path: str | Path) -> Path:
    """Write ``fig`` atomically in the format of the suffix, marked as ours (``CREATOR``). SVGs carry no creation
    date and fixed element ids, so a regenerated figure of the same numbers is the same file (no git diff)."""
    import matplotlib

    from pst.io import atomic_path

    path = check_figure(path)
    ext = path.suffix.lstrip(".") or "png"
    meta = {"Creator": CREATOR, **({"Date": None} if ext == "svg" else {})}
    with atomic_path(path) as tmp, matplotlib.rc_context({"svg.hashsalt": "pst"}):
        fig.savefig(tmp, format=ext, dpi=120, metadata=meta)
    return path


def check_figure(path: str | Path) -> Path:
    """Refuse a figure path holding a file that is not a figure of ours (a user's image is never overwritten), or
    under a folder that cannot be written (checked before anything is read or drawn)."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path}: a folder; name the figure's file")
    if path.suffix.lower() not in (".png", ".svg"):
        raise ValueError(f"{path}: a figure is a .png or .svg file; name one")
    check_not_inside(path, "figure")
    check_writable(path.parent, f"figure {path}")         # a file in the way, or a folder that cannot be written
    if path.exists() and not made_by_pst(path):
        raise ValueError(f"{path}: exists and is not a figure pst made; choose another output, or remove it")
    return path


def made_by_pst(path: str | Path) -> bool:
    """Whether a PNG or SVG carries the mark every figure pst draws has (its Creator / title metadata)."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
    return any(mark in head for mark in (f"tEXtCreator\x00{CREATOR}".encode(),                  # PNG, SVG
                                         f"<dc:title>{CREATOR}</dc:title>".encode()))


def _save(fig, stem: Path) -> list[Path]:
    return [save_figure(fig, stem.with_suffix(f".{ext}")) for ext in ("png", "svg")]


def history(run_dir: str | Path) -> list[dict]:
    """A run's metrics.json: one row per epoch with its loss and validation top-1."""
    rows = read_record(RunDir(run_dir).metrics, "a run's metrics (one row per epoch)", "train the run again",
                       {"loss": (int, float), "val_top1": (int, float, type(None))}, kind=list)
    if not rows:
        raise ValueError(f"{RunDir(run_dir).metrics}: not a run's metrics (no epoch); train the run again")
    return rows


def result_table(path: str | Path) -> dict:
    """A result table's JSON (`pst table study`): its rows."""
    return read_record(path, "a table written by `pst table study`", "rerun its table job", {"rows": list})


def row_runs(spec: dict) -> dict[str, list[str]]:
    """A table spec's rows -> their runs (one seed each), a row of several views once: what curves are drawn from."""
    runs: dict[str, list[str]] = {}
    for row in spec["rows"]:
        runs.setdefault(row["variant"], row["runs"])
    return runs


CURVE_KEYS = ("loss", "val_top1")
CURVE_HEADER = "epoch," + ",".join(f"{k},{k}_min,{k}_max" for k in CURVE_KEYS)   # a curve CSV's first line


def curve_data(runs: dict[str, list[str]]) -> dict[str, pd.DataFrame]:
    """``runs``: variant -> run directories (seeds) -> {variant: epoch, then the mean, min and max over seeds of the
    training loss and the validation top-1} from each run's metrics.json (epochs all its seeds reached)."""
    out = {}
    for variant, dirs in runs.items():
        hist = [history(d) for d in dirs]
        n = min(len(h) for h in hist)
        cols = {"epoch": np.arange(1, n + 1)}
        for key in CURVE_KEYS:
            v = np.array([[np.nan if row[key] is None else row[key] for row in h[:n]] for h in hist], dtype=float)
            cols[key], cols[f"{key}_min"], cols[f"{key}_max"] = v.mean(0), v.min(0), v.max(0)
        out[variant] = pd.DataFrame(cols)
    return out


def write_curve_data(data: dict[str, pd.DataFrame], folder: str | Path) -> list[Path]:
    """One CSV per row (``folder``/<variant>.csv), rounded to 4 decimals so a rerun writes the same bytes; all of
    them or none (a full disk leaves the earlier set whole)."""
    return write_texts({Path(folder) / f"{variant}.csv": df.round(4).to_csv(index=False)
                        for variant, df in data.items()})


def curves(data: dict[str, pd.DataFrame], stem: str | Path, title: str = "",
           before: dict[str, pd.DataFrame] | None = None, labels: tuple[str, str] = ("", "")) -> list[Path]:
    """Training loss and validation top-1 per row (band: min-max over seeds); with ``before``, the same rows at
    another version dashed beside them (``labels``: the two versions' names)."""
    plt = pyplot()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.4))
    for variant, df in data.items():
        for ax, key in ((ax_loss, "loss"), (ax_acc, "val_top1")):
            line, = ax.plot(df["epoch"], df[key], label=f"{variant} {labels[1]}".strip())
            if (df[f"{key}_min"] != df[f"{key}_max"]).any():
                ax.fill_between(df["epoch"], df[f"{key}_min"], df[f"{key}_max"], color=line.get_color(), alpha=0.15)
            if before is not None and variant in before:
                ax.plot(before[variant]["epoch"], before[variant][key], linestyle="--", color=line.get_color(),
                        label=f"{variant} {labels[0]}".strip())
    ax_loss.set(xlabel="epoch", ylabel="training loss")
    ax_acc.set(xlabel="epoch", ylabel="validation top-1 (%)")
    ax_acc.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    paths = _save(fig, Path(stem))
    plt.close(fig)
    return paths


def accuracy_vs_gflops(table_json: str | Path, stem: str | Path) -> list[Path]:
    """Top-1 (mean, error bar = std over seeds) against GFLOPs per view of our input, one point per row."""
    plt = pyplot()
    table = result_table(table_json)
    fig, ax = plt.subplots(figsize=(4.8, 3.4))
    for row in table["rows"]:
        if row.get("top-1") is None:                  # a published row no model of ours defines
            continue
        ax.errorbar(row["GFLOPs"], row["top-1"], yerr=row.get("top-1 std") or 0, fmt="o", capsize=3)
        ax.annotate(f"{row['model']} ({row['views']})", (row["GFLOPs"], row["top-1"]), fontsize=7,
                    xytext=(4, 3), textcoords="offset points")
    ax.set(xlabel="GFLOPs per view (our input)", ylabel="top-1 (%)")
    ax.set_title(table["title"], fontsize=7)
    fig.tight_layout()
    paths = _save(fig, Path(stem))
    plt.close(fig)
    return paths
