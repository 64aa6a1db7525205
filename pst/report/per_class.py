"""Where the models of a study table differ: per-class top-1 (mean over seeds, and each row's paired difference to
the 2D row), the most confused pairs of classes, the pairs named alike but for left/right (Something-Something's
"... from left to right" / "... from right to left"; the embedded set's time-reversed twins), and a confusion
matrix per model. Read from the evaluations' predictions.csv, as the table itself is from their eval.json.

With many classes (Something-Something's 174) the per-class table keeps the classes that move most between the 2D
row and the table's last row, and the figure the classes most involved in confusions, rather than a 174-wide wall.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from pst.data.annotations import read_classes
from pst.engine.config import resolve_path
from pst.engine.run import load_config
from pst.io import read_record, write_texts
from pst.layout import EVAL, PREDICTIONS, eval_dir
from pst.report.study_table import (PROFILE_MARK, check_predictions, interval, mean_std_text, number_text, paired,
                                    read_predictions)

FULL = 20          # up to this many classes every class is shown; beyond, the ones that move or confuse most
CONFUSED = 5       # most confused pairs listed per model


def _row_name(row: dict, several_views: bool) -> str:
    return f"{row['variant']} {row['views']}" if several_views else row["variant"]


def confusions(spec: dict) -> tuple[list[str], dict[str, dict[int, np.ndarray]]]:
    """(class names, {row name: {seed: (classes x classes) counts, true class x predicted}}) from every run's
    predictions.csv; one ValueError naming the first file that is missing or not one."""
    several = len({r["views"] for r in spec["rows"]}) > 1
    names = None
    out: dict[str, dict[int, np.ndarray]] = {}
    for row in spec["rows"]:
        for seed, run in zip(spec["seeds"], row["runs"]):
            if names is None:
                d = load_config(run)["data"]
                names = read_classes(resolve_path(d["root"], d["classes"]))
            path = Path(eval_dir(run, row["views"])) / PREDICTIONS
            rec = read_record(path.parent / EVAL, "an evaluation record of `pst evaluate`", "evaluate the run again")
            try:                                       # the predictions its evaluation counted, not edited since
                check_predictions(rec, path)
            except ValueError as err:
                raise ValueError(f"{path.parent / EVAL}: {err}; evaluate the run again") from None
            counts = np.zeros((len(names), len(names)), dtype=np.int64)
            for label, pred in read_predictions(path):
                if not (0 <= label < len(names) and 0 <= pred < len(names)):
                    raise ValueError(f"{path}: class {max(label, pred)} is outside the {len(names)} classes; "
                                     "evaluate the run again")
                counts[label, pred] += 1
            out.setdefault(_row_name(row, several), {})[seed] = counts
    return names, out


def mirror_pairs(names: list[str]) -> list[tuple[int, int]]:
    """Classes named alike but for left and right swapped (each pair once, in class order)."""
    index = {n: i for i, n in enumerate(names)}
    swap = {"left": "right", "right": "left", "Left": "Right", "Right": "Left"}
    pairs = []
    for i, n in enumerate(names):
        other = re.sub(r"left|right|Left|Right", lambda m: swap[m.group(0)], n)
        j = index.get(other)
        if other != n and j is not None and i < j:
            pairs.append((i, j))
    return pairs


def _accuracy(counts: np.ndarray) -> np.ndarray:
    """Per-class top-1 (%) of a confusion matrix; NaN where a class has no video."""
    total = counts.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, 100.0 * np.diag(counts) / np.maximum(total, 1), np.nan)


def per_class(spec: dict, names: list[str], conf: dict) -> pd.DataFrame:
    """One row per class: its videos, each model's top-1 (mean and std over seeds) and, for each row but the 2D
    one, the paired difference to it over the same seeds with its 95% interval."""
    base = spec.get("baseline")
    several = len({r["views"] for r in spec["rows"]}) > 1
    base_of = {} if base is None else {_row_name(r, several): _row_name({**r, "variant": base}, several)
                                       for r in spec["rows"] if r["variant"] != base}   # the 2D row at its views
    acc = {m: {s: _accuracy(c) for s, c in seeds.items()} for m, seeds in conf.items()}
    first = next(iter(conf.values()))
    rows = []
    for k, name in enumerate(names):
        out = {"class": name, "videos": int(next(iter(first.values()))[k].sum())}
        for m, seeds in acc.items():
            iv = interval([float(a[k]) for a in seeds.values() if not np.isnan(a[k])])
            out[f"{m} top-1"], out[f"{m} top-1 std"] = iv["mean"], iv["std"]
        for m, seeds in acc.items():
            if m not in base_of:
                continue
            iv = paired({s: float(a[k]) for s, a in seeds.items()},
                        {s: float(a[k]) for s, a in acc[base_of[m]].items()})
            out[f"{m} vs {base}"], out[f"{m} vs {base} ci95 low"] = iv["mean"], iv["low"]
            out[f"{m} vs {base} ci95 high"] = iv["high"]
        rows.append(out)
    return pd.DataFrame(rows)


def confused_pairs(names: list[str], conf: dict, top: int = CONFUSED) -> pd.DataFrame:
    """Each model's most confused (true, predicted) pairs over all its seeds: the share of the true class's videos
    predicted as the other."""
    rows = []
    for m, seeds in conf.items():
        total = sum(seeds.values())
        share = 100.0 * total / np.maximum(total.sum(1, keepdims=True), 1)
        np.fill_diagonal(share, 0)
        for i, j in zip(*np.unravel_index(np.argsort(-share, axis=None, kind="stable")[:top], share.shape)):
            if share[i, j] > 0:
                rows.append({"model": m, "true class": names[i], "predicted as": names[j],
                             "share of its videos": round(float(share[i, j]), 1), "videos": int(total[i, j])})
    return pd.DataFrame(rows, columns=["model", "true class", "predicted as", "share of its videos", "videos"])


def write(spec: dict, out: str | Path) -> Path:
    """``out``.md (what the results page shows), .csv (every class, every number) and .json (the same rows)."""
    names, conf = confusions(spec)
    df = per_class(spec, names, conf)
    base, models = spec.get("baseline"), list(conf)
    shown = df
    last = next((c for c in reversed(df.columns) if c.endswith(f" vs {base}")), None) if base else None
    pairs = mirror_pairs(names)
    if len(names) > FULL:                       # the classes that move most (both ways), and the mirror pairs
        keep = set()
        if last is not None:
            order = df[last].sort_values(kind="stable")
            keep |= set(order.index[:FULL // 2]) | set(order.index[-(FULL // 2):])
        keep |= {k for p in pairs for k in p}
        shown = df.loc[sorted(keep)] if keep else df.head(FULL)
    table = []
    for r in shown.to_dict("records"):
        line = {"class": r["class"], "videos": r["videos"]}
        for m in models:
            std = r.get(f"{m} top-1 std")
            line[m] = mean_std_text(r[f"{m} top-1"], std, std is not None and not pd.isna(std))
            col = f"{m} vs {base}"
            if col in r:
                low, high = r[f"{col} ci95 low"], r[f"{col} ci95 high"]
                line[f"{m} vs {base}"] = number_text(r[col], sign=True) + (
                    "" if low is None or pd.isna(low) else f" [{number_text(low, sign=True)}, {number_text(high, sign=True)}]")
        table.append(line)
    title = f"{spec['title']}: per class{PROFILE_MARK}{spec['profile']}"
    seeds = ", ".join(map(str, spec["seeds"]))
    lines = [f"# {title}", "",
             f"Top-1 per class over seeds {seeds} (mean ± std; *vs {base}*: paired difference over the same seeds "
             f"with its 95% interval), from each evaluation's predictions.csv"
             + (f"; {len(shown)} of {len(names)} classes: those that move most between {base} and the last row, "
                "and the left/right pairs (every class is in the CSV)" if len(shown) < len(names) else "") + ".", "",
             pd.DataFrame(table).to_markdown(index=False, disable_numparse=True), ""]
    if pairs:
        lines += [f"Classes named alike but for left/right ({len(pairs)} pair{'s' if len(pairs) > 1 else ''}): how "
                  "often each model takes one for the other (share of the pair's videos, all seeds).", ""]
        mirror = []
        for i, j in pairs:
            line = {"pair": f"{names[i]} / {names[j]}"}
            for m, seeds in conf.items():
                c = sum(seeds.values())
                swapped = c[i, j] + c[j, i]
                line[m] = number_text(100.0 * swapped / max(int(c[i].sum() + c[j].sum()), 1))
            mirror.append(line)
        lines += [pd.DataFrame(mirror).to_markdown(index=False, disable_numparse=True), ""]
    worst = confused_pairs(names, conf)
    if len(worst):
        lines += [f"Most confused pairs per model (up to {CONFUSED}; share of the true class's videos, all seeds).",
                  "", worst.to_markdown(index=False, floatfmt=".1f"), ""]
    out = Path(out)
    rows = json.loads(df.to_json(orient="records"))        # all or none, the JSON (the files are ours) first
    return write_texts({out.with_suffix(".json"): json.dumps({"title": title, "rows": rows, "metrics": {}}, indent=1)
                        + "\n", out.with_suffix(".csv"): df.to_csv(index=False),
                        out.with_suffix(".md"): "\n".join(lines).rstrip() + "\n"})[-1]


def confusion_figure(spec: dict, out: str | Path) -> Path:
    """One row-normalised confusion matrix per model (all seeds summed); with more than FULL classes, the FULL
    classes most involved in confusions."""
    from pst.report.plots import pyplot, save_figure

    names, conf = confusions(spec)
    totals = {m: sum(seeds.values()) for m, seeds in conf.items()}
    keep = np.arange(len(names))
    if len(names) > FULL:
        off = sum(t - np.diag(np.diag(t)) for t in totals.values())
        keep = np.sort(np.argsort(-(off.sum(0) + off.sum(1)), kind="stable")[:FULL])
    plt = pyplot()
    n = len(totals)
    side = 1.2 + 0.28 * len(keep)
    fig, axes = plt.subplots(1, n, figsize=(side * n, side + 0.6), squeeze=False)
    for ax, (m, t) in zip(axes[0], totals.items()):
        sub = t[np.ix_(keep, keep)].astype(float)
        share = 100.0 * sub / np.maximum(t[keep].sum(1, keepdims=True), 1)
        ax.imshow(share, vmin=0, vmax=100, cmap="Blues")
        ax.set_title(m, fontsize=8)
        labels = [names[k][:24] for k in keep]
        ax.set_xticks(range(len(keep)), labels, rotation=90, fontsize=5)
        ax.set_yticks(range(len(keep)), labels if ax is axes[0][0] else [], fontsize=5)
        ax.set_xlabel("predicted", fontsize=6)
        if len(keep) <= 8:
            for i in range(len(keep)):
                for j in range(len(keep)):
                    ax.text(j, i, f"{share[i, j]:.0f}", ha="center", va="center", fontsize=6,
                            color="white" if share[i, j] > 50 else "black")
    axes[0][0].set_ylabel("true class", fontsize=6)
    fig.suptitle(f"{spec['title']}: confusions (% of the true class's videos, seeds {', '.join(map(str, spec['seeds']))})",
                 fontsize=7)
    fig.tight_layout()
    path = save_figure(fig, out)
    plt.close(fig)
    return path
