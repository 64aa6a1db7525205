"""A study table (supplement Table 1, Table 2, the main tables): each row's test top-1 over seeds with its 95%
interval, its paired difference to the table's 2D row over the same seeds, its cost at the paper's input, and the
published number beside it.

What a row may claim is decided here, once:
- an interval over seeds (Student's t, 95%) wherever there are two seeds or more; a paired difference to the 2D row
  whose interval contains 0 is printed as *unresolved*;
- top-5 only where the dataset has more than 5 classes (on 4 classes it is always 100);
- a Δ to the published number only where the profile runs the paper's dataset, recipe, views and 2D init
  (``comparable``: the paper profile); elsewhere the published number is a labelled reference column.
The Markdown is for people (about ten columns); the CSV and JSON keep every number, per seed included.

Built only from finished artifacts (eval.json, config.yaml, `pst flops` records); a missing or unreadable run
fails the whole table and names every such run, so a partial table is never written as done.
"""
from __future__ import annotations

import csv
import math
import statistics
from pathlib import Path

import pandas as pd

from pst.engine.run import check_run_files, load_config
from pst.io import read_record
from pst.layout import PREDICTIONS, RunDir, eval_path
from pst.provenance import job_fingerprint
from pst.report.published import published
from pst.report.tables import load_counts, load_memory, paper_delta, write_table


class MissingRunsError(RuntimeError):
    pass


def collect(spec: dict) -> dict:
    """{(variant, views): {seed: eval record}}; raises MissingRunsError listing every missing or unreadable
    evaluation."""
    found, missing = {}, []
    for row in spec["rows"]:
        for seed, run in zip(spec["seeds"], row["runs"]):
            path = Path(eval_path(run, row["views"]))
            try:
                rec = read_record(path, "an evaluation record of `pst evaluate`", "evaluate the run again",
                                  {"top1": (int, float, type(None))})
                if rec["top1"] is None:
                    raise ValueError("no video was evaluated")
                if not 0 <= rec["top1"] <= 100:         # NaN included
                    raise ValueError(f"top1 {rec['top1']} is not a percentage")
                cfg = load_config(run)
                check_run_files(Path(run))            # a run whose summary or metrics were damaged is not done
                trained = cfg["train"]["seed"]
                if trained != seed:
                    raise ValueError(f"the run's seed is {trained}, not the spec's {seed}")
                check_evaluation(rec, path, run, row["views"], cfg)
            except (OSError, ValueError) as err:
                missing.append(f"{path} ({err.__class__.__name__}: {err})" if path.exists() else f"{path} (missing)")
                continue
            found.setdefault((row["variant"], row["views"]), {})[seed] = rec
    if missing:
        raise MissingRunsError(f"table {spec['name']}: {len(missing)} of "
                               f"{sum(len(r['runs']) for r in spec['rows'])} evaluations missing or unreadable; "
                               "run them first (snakemake builds them), nothing was written: " + "; ".join(missing))
    return found


def read_predictions(path: str | Path) -> list[tuple[int, int]]:
    """(label, top-1 prediction) of each video of an evaluation's predictions.csv; one ValueError naming the file
    when it is missing or not one (the caller says the fix)."""
    try:
        with open(path, newline="") as fh:
            return [(int(r["label"]), int(r["pred"])) for r in csv.DictReader(fh)]
    except (OSError, KeyError, ValueError, TypeError) as err:
        raise ValueError(f"{path}: not the predictions of `pst evaluate` ({type(err).__name__}: {err})") from None


def recount(path: str | Path) -> tuple[int, float]:
    """(videos, top-1 in %) of an evaluation's predictions.csv, counted again: what its eval.json must say
    (0 videos: a top-1 of 0)."""
    hits = [label == pred for label, pred in read_predictions(path)]
    return len(hits), 100.0 * sum(hits) / max(len(hits), 1)


def paired(a: dict, b: dict) -> dict:
    """The paired difference a − b over the seeds both have a number for ({seed: value} each), with its 95%
    interval (interval, clipped to −100..100)."""
    def number(v) -> bool:
        return v is not None and not (isinstance(v, float) and math.isnan(v))

    return interval([a[s] - b[s] for s in a if number(a[s]) and number(b.get(s))], (-100.0, 100.0))


def check_evaluation(rec: dict, path: Path, run: str, views: str, cfg: dict) -> None:
    """An evaluation is this run's, of its current weights, at these views, on its own validation list, and its
    numbers are its predictions' (recounted from predictions.csv): else one ValueError saying which."""
    from pst.engine.checkpoint import run_weights
    from pst.engine.config import resolve_path

    def same(a, b) -> bool:
        return Path(a).resolve() == Path(b).resolve()

    own = resolve_path(cfg["data"]["root"], cfg["data"]["val_list"])
    if not same(rec.get("run", ""), run):
        raise ValueError(f"it is the evaluation of {rec.get('run')!r}, not of this run")
    if rec.get("views") != views:
        raise ValueError(f"it is an evaluation at {rec.get('views')!r} views, not {views}")
    if not same(rec.get("list", ""), own):
        raise ValueError(f"it is an evaluation on {rec.get('list')!r}, not on the run's validation list {own}")
    if rec.get("weights") != run_weights(run):
        raise ValueError("it scored other weights than the run's final weights now (or predates evaluations naming "
                         "their weights)")
    twin = rec.get("twin_top1")
    if twin is not None and (not isinstance(twin, (int, float)) or isinstance(twin, bool) or not 0 <= twin <= 100):
        raise ValueError(f"twin_top1 {twin!r} is not a percentage")
    check_predictions(rec, Path(path).parent / PREDICTIONS)


def check_predictions(rec: dict, path: Path) -> None:
    """An evaluation's predictions.csv (``path``) is the one its record ``rec`` (eval.json) counted: the same
    videos and top-1, recounted; else one ValueError saying both."""
    videos, top1 = recount(path)
    if videos != rec.get("videos_evaluated") or not videos or not isinstance(rec.get("top1"), (int, float)) or \
            abs(top1 - rec["top1"]) > 1e-3:
        raise ValueError(f"its top1 {rec.get('top1')} over {rec.get('videos_evaluated')} videos is not what its "
                         f"{PREDICTIONS} says ({videos} videos, {top1:.4f})")


def published_row(table: str | None, key: str | None, dataset_hint: str | None = None) -> dict:
    """{top1, top5, flops_g, params_m} of one published row; absent values are None (printed n/a).
    ``key`` may name another published table as "table/row" (e.g. Table 2(b)'s 2D row is in Table 2(e))."""
    out = {"top1": None, "top5": None, "flops_g": None, "params_m": None, "memory_g": None}
    if key is not None and "/" in str(key):
        table, key = str(key).split("/", 1)
    block = published().get(table) if table else None
    row = (block or {}).get("rows", {}).get(key) if key is not None else None
    if not row:
        return out
    out.update({k: row.get(k) for k in out if k in row})
    if dataset_hint and isinstance(row.get(dataset_hint), list):
        out["top1"], out["top5"] = row[dataset_hint]
    return out


def interval(values: list[float], bounds: tuple[float, float] = (0.0, 100.0)) -> dict:
    """Mean, sample std and the 95% Student-t interval of the mean over seeds (None where undefined), the interval
    clipped to ``bounds``, what the quantity can be (an accuracy 0-100, a difference of two -100-100): with 3 seeds
    and a wide spread the t-interval would otherwise reach past 100 %."""
    values = [v for v in values if v is not None]
    n = len(values)
    out = {"mean": statistics.fmean(values) if n else None, "std": None, "low": None, "high": None, "n": n}
    if n > 1:
        from scipy.stats import t

        out["std"] = statistics.stdev(values)
        half = float(t.ppf(0.975, n - 1)) * out["std"] / math.sqrt(n)
        out["low"], out["high"] = max(bounds[0], out["mean"] - half), min(bounds[1], out["mean"] + half)
    return out


def _run_cost(run: str, model: str) -> dict:
    """FLOPs/params of one view as the run was trained (frames, crop size and model options of its config), and
    its dataset's class count."""
    from pst.data.annotations import read_classes
    from pst.engine.config import resolve_path
    from pst.report.flops import count

    cfg = load_config(run)
    if cfg["model"]["name"] != model:           # a spec row and the run it names must be of one model
        raise ValueError(f"{run}: trained {cfg['model']['name']}, but the table's row names {model}; use the spec "
                         "the workflow writes")
    d = cfg["data"]
    classes = len(read_classes(resolve_path(d["root"], d["classes"])))
    cost = count(cfg["model"]["name"], d["sampling"]["clip_len"], d["val"]["size"], num_classes=classes,
                 **cfg["model"]["kwargs"])
    return {**cost, "classes": classes}


def code_of(found: dict) -> dict:
    """The code a table came from: this report code, and every evaluation code fingerprint its records name."""
    evals = sorted({(r.get("code") or {}).get("fingerprint") or "unrecorded"
                    for recs in found.values() for r in recs.values()})
    return {"report": job_fingerprint("report"), "evaluate": evals}


def paper_costs(spec: dict, paper_flops: list[str]) -> dict:
    """{model: its FLOPs record at the table's paper input}; a record at another input is refused, naming it (the
    cost column says "@paper input")."""
    want = tuple(spec.get("paper_input") or ())
    for path in paper_flops if want else []:
        rec = load_counts([path])[0]
        if (rec["frames"], rec["size"]) != want:
            raise ValueError(f"{path}: counts {rec['model']} at {rec['frames']}x{rec['size']}, not the table's paper "
                             f"input {want[0]}x{want[1]}; rerun its flops job (`pst flops {rec['model']} --frames "
                             f"{want[0]} --size {want[1]} --json`)")
    return {rec["model"]: rec for rec in load_counts(paper_flops)}


def build(spec: dict, paper_flops: list[str], found: dict | None = None, memory: list[str] = ()) -> pd.DataFrame:
    """Every number of the table, one row per (variant, views) in the table's order, then the published rows no
    model of ours defines (``paper_only``)."""
    paper_cost = paper_costs(spec, paper_flops)
    found = collect(spec) if found is None else found
    paper_memory = {rec["model"]: rec for rec in load_memory(memory)}
    costs: dict[str, dict] = {}                 # one count per run, shared by its rows of other views
    base = spec.get("baseline")
    rows = []
    for row in spec["rows"]:
        recs = found[(row["variant"], row["views"])]
        pub = published_row(spec["published"], row["published_row"], spec.get("paper_dataset"))
        run = row["runs"][0]
        if run not in costs:
            costs[run] = _run_cost(run, row["model"])
        cost = costs[run]
        at_paper = paper_cost.get(row["model"], {})
        top1 = interval([r["top1"] for r in recs.values()])
        area = dict(zip(spec["seeds"], map(curve_area, row["runs"])))
        auc = interval([area[s] for s in recs])
        top5 = interval([r["top5"] for r in recs.values()])
        twin = interval([r.get("twin_top1") for r in recs.values()])
        out = {
            "model": row["variant"], "views": row["views"], "pretrain": spec["pretrain"],
            "input": f"{cost['frames']}x{cost['size']}²", "classes": cost["classes"],
            "GFLOPs": round(cost["gflops"], 4), "params M": round(cost["params_m"], 3),
            "GFLOPs @paper input": None if not at_paper else round(at_paper["gflops"], 2),
            "params M @paper input": None if not at_paper else round(at_paper["params_m"], 2),
            **({} if not spec.get("memory") else _memory_columns(paper_memory.get(row["model"]))),
            "seeds": top1["n"], "videos": min((r.get("denominator") for r in recs.values()), default=None),
            "top-1": top1["mean"], "top-1 std": top1["std"],
            "top-1 ci95 low": top1["low"], "top-1 ci95 high": top1["high"],
            **{f"top-1 seed{s}": r["top1"] for s, r in recs.items()},
            "top-5": top5["mean"], "top-5 std": top5["std"],
            "twin top-1": twin["mean"], "twin top-1 std": twin["std"],
            "twin top-1 ci95 low": twin["low"], "twin top-1 ci95 high": twin["high"],
            "val auc": auc["mean"], "val auc std": auc["std"], "val auc ci95 low": auc["low"],
            "val auc ci95 high": auc["high"], **{f"val auc seed{s}": area[s] for s in recs}}
        if base is not None:
            ref = found[(base, row["views"])]
            base_area = dict(zip(spec["seeds"], map(curve_area, _row_of(spec, base, row["views"])["runs"])))
            for col, mine, theirs in ((f"vs {base}", {s: recs[s]["top1"] for s in recs},
                                       {s: ref[s]["top1"] for s in ref}),
                                      (f"vs {base} val auc", {s: area[s] for s in recs}, base_area)):
                diff = paired(mine, theirs) if row["variant"] != base else {"mean": None, "low": None, "high": None}
                out.update({col: diff["mean"], f"{col} ci95 low": diff["low"], f"{col} ci95 high": diff["high"],
                            f"{col} resolved": None if diff["low"] is None else bool(diff["low"] > 0 or diff["high"] < 0)})
        comparable = bool(spec.get("comparable"))
        out.update({
            "paper dataset": spec.get("paper_dataset"),
            "top-1 paper": pub["top1"],
            "Δ top-1": paper_delta(top1["mean"], pub["top1"]) if comparable and top1["mean"] is not None else None,
            "top-5 paper": pub["top5"],
            "Δ top-5": paper_delta(top5["mean"], pub["top5"]) if comparable and top5["mean"] is not None else None,
            "GFLOPs paper": pub["flops_g"], "params M paper": pub["params_m"],
            **({"memory GB paper": pub["memory_g"]} if spec.get("memory") else {})})
        rows.append(out)
    for key in spec.get("paper_only", []):
        pub = published_row(spec["published"], key, spec.get("paper_dataset"))
        rows.append({"model": f"{key} (paper only)", "views": spec["rows"][0]["views"], "pretrain": spec["pretrain"],
                     "classes": rows[0]["classes"], "seeds": 0, "paper dataset": spec.get("paper_dataset"),
                     "top-1 paper": pub["top1"], "top-5 paper": pub["top5"], "GFLOPs paper": pub["flops_g"],
                     "params M paper": pub["params_m"],
                     **({"memory GB paper": pub["memory_g"]} if spec.get("memory") else {})})
    df = pd.DataFrame(rows)
    if df["twin top-1"].isna().all():
        df = df.drop(columns=[c for c in df.columns if c.startswith("twin top-1")])
    return df


def curve_area(run: str) -> float | None:
    """The area under a run's validation curve: its top-1 averaged over the epochs it validated (0-100). Where
    final accuracy saturates (every temporal row of the embedded set ends at 98-100 %), how early a row got there
    still separates them; None for a run without per-epoch validation."""
    path = RunDir(run).metrics
    if not path.is_file():
        return None
    rows = read_record(path, "the per-epoch metrics of `pst train`", "train the run again", kind=list)
    curve = [r["val_top1"] for r in rows if isinstance(r, dict) and isinstance(r.get("val_top1"), (int, float))]
    return statistics.fmean(curve) if curve else None


def _row_of(spec: dict, variant: str, views: str) -> dict:
    return next(r for r in spec["rows"] if r["variant"] == variant and r["views"] == views)


def _memory_columns(rec: dict | None) -> dict:
    """Our training-memory account at the paper's input and per-device batch (pst.report.memory), in GiB."""
    if rec is None:
        return {"memory batch @paper input": None, "memory GiB @paper input": None,
                "activations GiB @paper input": None}
    return {"memory batch @paper input": rec["batch"], "memory GiB @paper input": round(rec["peak_gib"], 2),
            "activations GiB @paper input": round(rec["activation_gib"], 2)}


def number_text(v, fmt: str = ".1f", sign: bool = False) -> str:
    """A measured number as the tables print it (one decimal, n/a where missing); the paper's own figures are
    printed as published, never through this."""
    if pd.isna(v):                      # None, NaN of any float type, pandas' NA
        return "n/a"
    return format(v, ("+" if sign else "") + fmt)


def mean_std_text(mean, std, many: bool = True) -> str:
    """A mean over seeds as the tables print it: "mean ± std" over several seeds (``many``, a std to show), the
    mean alone over one, n/a where there is no mean."""
    if pd.isna(mean):                   # None, NaN of any float type, pandas' NA
        return "n/a"
    return f"{number_text(mean)} ± {number_text(std)}" if many else number_text(mean)


def _cost(g, p) -> str:
    """GFLOPs / params as given; what is not given is left out (the paper prints some rows' FLOPs only)."""
    parts = [f"{number_text(v, 'g')} {unit}" for v, unit in ((g, "G"), (p, "M")) if v is not None and not pd.isna(v)]
    return " / ".join(parts) or "n/a"


def dataset_label(name: str | None) -> str:
    from pst.datasets.catalog import CATALOG

    info = CATALOG.get(name or "")
    return info.label if info and info.label else str(name)


def display(df: pd.DataFrame, spec: dict) -> pd.DataFrame:
    """The Markdown view: what a reader compares, about ten columns (the rest is in the CSV and JSON)."""
    base = spec.get("baseline")
    f, s = spec["paper_input"]
    comparable = bool(spec.get("comparable"))
    top5 = bool((df["classes"] > 5).all())
    paper = dataset_label(spec.get("paper_dataset"))
    curves = "val auc" in df and df["val auc"].notna().any()
    rows = []
    for r in df.to_dict("records"):
        many = r["seeds"] > 1
        ours = r["seeds"] > 0                          # 0: a published row no model of ours defines
        out = {"model": r["model"], "views": r["views"], "input": r["input"] if ours else "",
               f"cost @{f}×{s}²": _cost(r["GFLOPs @paper input"], r["params M @paper input"]),
               "top-1": mean_std_text(r["top-1"], r["top-1 std"], many)}
        if spec.get("memory"):
            batch = df["memory batch @paper input"].dropna()
            head = f"memory @batch {int(batch.iloc[0])}" if len(batch) else "memory"
            out[head] = "n/a" if pd.isna(r["memory GiB @paper input"]) else f"{r['memory GiB @paper input']:.1f} GiB"
        if (df["seeds"] > 1).any():
            out["95% CI"] = f"{number_text(r['top-1 ci95 low'])} – {number_text(r['top-1 ci95 high'])}" if many else "n/a"
        if top5:
            out["top-5"] = mean_std_text(r["top-5"], r["top-5 std"], many)
        if "twin top-1" in r:
            out["twin top-1"] = mean_std_text(r["twin top-1"], r["twin top-1 std"], many)
        if base is not None:
            out[f"vs {base}"] = _paired(r, f"vs {base}", base, ours)
        if curves:
            out["val curve area"] = mean_std_text(r.get("val auc"), r.get("val auc std"), many)
            if base is not None:
                out[f"area vs {base}"] = _paired(r, f"vs {base} val auc", base, ours)
        if comparable:
            out["paper top-1"] = number_text(r["top-1 paper"])
            out["Δ top-1"] = number_text(r["Δ top-1"], sign=True)
            if top5:
                out["paper top-5"] = number_text(r["top-5 paper"])
                out["Δ top-5"] = number_text(r["Δ top-5"], sign=True)
        else:
            out[f"paper top-1 ({paper}, reference)"] = number_text(r["top-1 paper"])
        out["paper cost"] = _cost(r["GFLOPs paper"], r["params M paper"])
        if spec.get("memory"):
            out["paper memory"] = "n/a" if pd.isna(r["memory GB paper"]) else f"{r['memory GB paper']:g} GB"
        rows.append(out)
    return pd.DataFrame(rows)


def _paired(r: dict, col: str, base: str, ours: bool) -> str:
    """A paired difference to the baseline row (the 2D one, or a profile's) as printed: mean [95% interval],
    *unresolved* when it contains 0."""
    if not ours:
        return ""
    if r["model"] == base:
        return "(baseline)"
    if r.get(f"{col} ci95 low") is None or pd.isna(r[f"{col} ci95 low"]):
        return f"{number_text(r.get(col), sign=True)} (1 seed)"
    text = f"{number_text(r[col], sign=True)} [{number_text(r[f'{col} ci95 low'], sign=True)}, {number_text(r[f'{col} ci95 high'], sign=True)}]"
    return text if r[f"{col} resolved"] else text + " unresolved"


def notes(df: pd.DataFrame, spec: dict) -> str:
    """The line under the title: what the numbers are over, and what may be compared with what."""
    seeds = ", ".join(str(s) for s in spec["seeds"])
    parts = [f"profile `{spec['profile']}`", f"seeds {seeds}: mean ± std, 95% t-interval of the mean (clipped to "
             "0–100)",
             f"pretrain: {spec['pretrain']}"]
    if spec.get("left_out"):
        parts.append(f"rows of the table not run on this profile: {', '.join(spec['left_out'])}")
    if spec.get("baseline"):
        parts.append(f"*vs {spec['baseline']}*: paired difference over the same seeds with its 95% interval; "
                     "*unresolved* when the interval contains 0")
    if "val auc" in df and df["val auc"].notna().any():
        parts.append("*val curve area*: validation top-1 averaged over the training epochs (the area under the "
                     "curve, 0–100): how early a row learned, which separates rows whose final top-1 saturates"
                     + (f"; *area vs {spec['baseline']}*: its paired difference" if spec.get("baseline") else ""))
    if spec.get("comparable"):
        parts.append("Δ: ours − the paper's (dataset, recipe, views and 2D init as published)")
    else:
        parts.append(f"the paper's numbers are on {dataset_label(spec.get('paper_dataset'))} with its own recipe: "
                     "a reference, not a target (no Δ)")
    if not (df["classes"] > 5).all():
        parts.append(f"top-5 not shown: {int(df['classes'].min())} classes")
    if spec.get("memory"):
        parts.append("memory: our fp32 account of one training step per device at the paper's input and batch "
                     "(parameters, gradients, AdamW state, activations; `pst memory`, torch's scaled-dot-product "
                     "attention), the paper's as printed")
    return "; ".join(parts) + "."


def metrics(df: pd.DataFrame, spec: dict) -> dict:
    """What `dvc metrics show/diff` reads, keyed like ``<variant>.top1`` (``<variant>.<views>.top1`` in tables of
    several views): the mean, std and interval of top-1, twin top-1, top-5 where meaningful, the paired difference
    to the 2D row and the Δ to the paper where comparable."""
    base = spec.get("baseline")
    several = len({r["views"] for r in spec["rows"]}) > 1
    out: dict = {}
    for r in df.to_dict("records"):
        if r["seeds"] == 0:                            # a published row only
            continue
        m = {"top1": r["top-1"], "top1_std": r["top-1 std"], "top1_ci_low": r["top-1 ci95 low"],
             "top1_ci_high": r["top-1 ci95 high"]}
        if r["classes"] > 5:
            m["top5"] = r["top-5"]
        if "twin top-1" in r:
            m["twin_top1"] = r["twin top-1"]
        if r.get("val auc") is not None and not pd.isna(r["val auc"]):
            m["val_auc"] = r["val auc"]
        if base is not None and r["model"] != base:
            m.update(vs_2d=r[f"vs {base}"], vs_2d_ci_low=r[f"vs {base} ci95 low"],
                     vs_2d_ci_high=r[f"vs {base} ci95 high"], vs_2d_val_auc=r.get(f"vs {base} val auc"),
                     vs_2d_val_auc_ci_low=r.get(f"vs {base} val auc ci95 low"),
                     vs_2d_val_auc_ci_high=r.get(f"vs {base} val auc ci95 high"))
        if spec.get("comparable"):
            m["delta_paper_top1"] = r["Δ top-1"]
        if spec.get("memory"):
            m["memory_gib"] = r["memory GiB @paper input"]
        m = {k: round(v, 4) for k, v in m.items() if v is not None and not (isinstance(v, float) and math.isnan(v))}
        if several:
            out.setdefault(r["model"], {})[r["views"]] = m
        else:
            out[r["model"]] = m
    return out


AGREES, DISAGREES, UNRESOLVED = "agrees", "disagrees", "unresolved"


def finding(df: pd.DataFrame, spec: dict) -> dict | None:
    """The paper's claim about this table (published.yaml's ``claim``: rows it puts above others) tested on ours:
    for each pair, the paired top-1 difference over the seeds both rows ran, its 95% interval, and whether it
    agrees (interval above 0), disagrees (below) or is unresolved; the same for the area under the validation
    curve. None where the paper states no claim or the profile runs none of its pairs."""
    claim = (published().get(spec.get("published") or "") or {}).get("claim")
    if not claim:
        return None
    key_of = {}
    for row in spec["rows"]:                       # published row -> our first row of it (its first views)
        key_of.setdefault(str(row["published_row"]), (row["variant"], row["views"]))
    rows = {(r["model"], r["views"]): r for r in df.to_dict("records")}
    pairs = []
    for better, than in claim["better_than"]:
        a, b = (rows.get(key_of.get(str(k), ("", ""))) for k in (better, than))
        if a is None or b is None:
            continue
        pair = {"better": a["model"], "than": b["model"]}
        for name, col in (("top1", "top-1"), ("val_auc", "val auc")):
            iv = paired(*({s: r.get(f"{col} seed{s}") for s in spec["seeds"]} for r in (a, b)))
            verdict = None if iv["mean"] is None else UNRESOLVED if iv["low"] is None else \
                AGREES if iv["low"] > 0 else DISAGREES if iv["high"] < 0 else UNRESOLVED
            pair[name] = {"diff": iv["mean"], "low": iv["low"], "high": iv["high"], "seeds": iv["n"],
                          "verdict": verdict}
        pairs.append(pair)
    if not pairs:
        return None
    said = [p["top1"]["verdict"] for p in pairs]
    verdict = DISAGREES if DISAGREES in said else UNRESOLVED if UNRESOLVED in said or None in said else AGREES
    return {"paper": claim["says"], "pairs": pairs, "verdict": verdict, "comparable": bool(spec.get("comparable"))}


def finding_text(f: dict, profile: str) -> str:
    """One sentence each: the paper's claim, ours (each pair's top-1 difference with its interval), the verdict."""
    def part(p: dict) -> str:
        t = p["top1"]
        text = f"{p['better']} − {p['than']} {number_text(t['diff'], sign=True)}"
        if t["low"] is not None:
            text += f" [{number_text(t['low'], sign=True)}, {number_text(t['high'], sign=True)}]"
        a = p.get("val_auc") or {}
        if t["verdict"] != AGREES and a.get("verdict") in (AGREES, DISAGREES):
            text += f" (val curve area {number_text(a['diff'], sign=True)} [{number_text(a['low'], sign=True)}, " \
                    f"{number_text(a['high'], sign=True)}]: {a['verdict']})"
        return text
    where = "" if f["comparable"] else " on this profile's data (not the paper's)"
    return (f"**Paper:** {f['paper']}. **Ours** (`{profile}`, paired top-1 differences, 95% intervals): "
            f"{'; '.join(part(p) for p in f['pairs'])}. **Verdict:** {f['verdict']}{where}.")


def write(spec: dict, paper_flops: list[str], out: str | Path, memory: list[str] = ()) -> pd.DataFrame:
    paper_costs(spec, paper_flops)                # a bad input stops before any evaluation is read
    found = collect(spec)
    df = build(spec, paper_flops, found, memory)
    render(df, spec, out, f"{spec['title']}{PROFILE_MARK}{spec['profile']}", extra={"code": code_of(found)},
           metrics=metrics(df, spec))
    return df


def render(df: pd.DataFrame, spec: dict, out: str | Path, title: str, extra: dict | None = None,
           metrics: dict | None = None) -> None:
    """A table's files from its rows: its finding first, then the rows as displayed, then the notes (what `pst verify`
    renders again to check a committed table)."""
    claim = finding(df, spec)
    lead = f"{finding_text(claim, spec['profile'])}\n\n" if claim else ""
    write_table(df, out, title, {"kind": "study", "name": spec["name"], "profile": spec["profile"]},
                display=display(df, spec), extra={**(extra or {}), "finding": claim},
                notes=lead + notes(df, spec), metrics=metrics)


PROFILE_MARK = " — profile "            # a study table's title ends with the profile it is of


def title_profile(title: str) -> str | None:
    """The profile a study table's title names (None: not a study table)."""
    return title.rsplit(PROFILE_MARK, 1)[1].strip() if PROFILE_MARK in title else None
