"""`pst status`: where a profile's study stands, read from its run folders and logs (no torch import, so it
answers in a fraction of a second while a study trains).

Per table, each run is one of
  done     final weights written (test top-1 of each evaluation found; "recipe or data changed" when params.yaml
           now asks for another recipe, or its data were regenerated: the next `snakemake` moves it aside and trains
           afresh)
  running  its folder's lock is held (epoch, last val top-1 from metrics.json, ETA from timing.json)
  failed   neither, but its training log exists: the log's last error line, and where a rerun resumes (or why it
           would be refused: a file at the run's path, a recipe that no longer reads)
  missing  nothing yet
and the finished runs moved aside when their recipe changed (RUN.archived/<stamp>/) are listed with the reason
they were moved, and the run folders no table of the profile names (a table dropped from it leaves them).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

from pst.engine.config import resolve
from pst.engine.run import changes, load_config
from pst.io import json_or_none, lock_holder
from pst.layout import RunDir, eval_path
from pst.study import Run, Study

UNCLAIMED = ("kept, and part of the DVC output of this profile's runs, so its dvc.lock is not a fresh clone's: move "
             "them out of the repository to keep them elsewhere")
ERROR = re.compile(r"error|exception|traceback|killed|stopped by|interrupted", re.IGNORECASE)


def _last_error(log: Path) -> Optional[str]:
    """The last line of a log that reads like an error (else its last non-empty line)."""
    try:
        lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return None
    errors = [ln for ln in lines if ERROR.search(ln)]
    return (errors or lines or [None])[-1]


def _resume_point(run_dir: Path) -> Optional[str]:
    found = RunDir.list_checkpoints(RunDir(run_dir).checkpoints)
    if not found:
        return None
    epoch, step = (int(v) for v in RunDir.CHECKPOINT.search(found[-1].name).groups())
    return f"epoch {epoch}, step {step}"


def _blocked(run_dir: Path) -> Optional[str]:
    """Why the next training of a run that is not done would be refused (a file where its folder goes, a recipe
    that no longer reads), or None."""
    if run_dir.exists() and not run_dir.is_dir():
        return f"{run_dir} is a file, not a run's folder: move it aside"
    if RunDir(run_dir).config.is_file():
        try:
            load_config(run_dir)
        except (ValueError, OSError) as err:
            return str(err).splitlines()[0]
    return None


def _progress(run_dir: Path, epochs: int) -> dict:
    """Epochs done, last val top-1 and an ETA from the epochs' mean time."""
    rows = json_or_none(RunDir(run_dir).metrics) or []
    out = {"epoch": len(rows), "epochs": epochs, "val_top1": rows[-1].get("val_top1") if rows else None,
           "eta_s": None}
    seconds = [r["epoch_seconds"] for r in json_or_none(RunDir(run_dir).timing) or [] if r.get("epoch_seconds")]
    if seconds:
        out["eta_s"] = sum(seconds) / len(seconds) * max(epochs - len(rows), 0)
    return out


def run_status(study: Study, run: Run, views: tuple[str, ...]) -> dict:
    run_dir = Path(study.run_dir(run))
    recipe = resolve(study.recipe(run))
    epochs = recipe["schedule"]["epochs"]
    out: dict = {"run": str(run_dir), "variant": run.variant, "seed": run.seed}
    holder = lock_holder(run_dir)
    if RunDir(run_dir).final.is_file() or RunDir(run_dir).legacy_final.is_file():
        final = (json_or_none(RunDir(run_dir).summary) or {}).get("final") or {}
        evals = {v: (json_or_none(Path(eval_path(run_dir, v))) or {}).get("top1") for v in views}
        out.update(state="done", val_top1=final.get("val_top1"), test_top1=evals,
                   changed=changes(run_dir, recipe))
        if holder:
            out["busy"] = holder
    elif holder:
        out.update(state="running", holder=holder, **_progress(run_dir, epochs))
    elif Path(study.layout.train_log(run.dataset, run.recipe, run.variant, run.seed)).is_file() or run_dir.exists():
        log = Path(study.layout.train_log(run.dataset, run.recipe, run.variant, run.seed))
        out.update(state="failed", error=_last_error(log), log=str(log), resumes_from=_resume_point(run_dir),
                   blocked=_blocked(run_dir), **_progress(run_dir, epochs))
    else:
        out["state"] = "missing"
    return out


def archived_runs(study: Study) -> list[dict]:
    """Finished runs moved aside (RUN.archived/<stamp>/), with the reason recorded when they were moved."""
    out = []
    for folder in sorted(Path(study.layout.results, "runs").glob("**/*.archived/*")):
        if folder.is_dir():
            note = folder / "ARCHIVED.txt"
            out.append({"run": str(folder), "reason": note.read_text().strip() if note.is_file() else None})
    return out


def study_status(study: Study) -> dict:
    tables = []
    for table in study.tables:
        runs = [run_status(study, r, table.views) for r in study.table_runs(table)]
        counts = {s: sum(r["state"] == s for r in runs) for s in ("done", "running", "failed", "missing")}
        tables.append({"table": table.name, "title": table.title, "views": list(table.views), "counts": counts,
                       "runs": runs})
    return {"profile": study.profile, "tables": tables, "archived": archived_runs(study),
            "unclaimed": study.unclaimed_runs()}


def _pct(v) -> str:
    return "-" if v is None else f"{v:.1f}"


def _eta(seconds) -> str:
    if seconds is None:
        return "?"
    minutes = seconds / 60
    return f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.1f} h"


def format_status(status: dict) -> str:
    lines = [f"profile {status['profile']}"]
    for t in status["tables"]:
        c = t["counts"]
        lines.append(f"\n{t['table']}: {c['done']} done, {c['running']} running, {c['failed']} failed, "
                     f"{c['missing']} missing ({t['title']})")
        for r in t["runs"]:
            head = f"  {r['variant']:<14} seed{r['seed']:<3} {r['state']:<8}"
            if r["state"] == "done":
                tests = ", ".join(f"{v} {_pct(top)}" for v, top in r["test_top1"].items())
                text = f"test top-1 {tests}; val {_pct(r['val_top1'])}"
                if r["changed"]:
                    text += f"; recipe or data changed ({'; '.join(r['changed'][:3])}): the next run moves it aside"
            elif r["state"] == "running":
                text = (f"epoch {r['epoch']}/{r['epochs']}, val top-1 {_pct(r['val_top1'])}, "
                        f"ETA {_eta(r['eta_s'])} ({r['holder']})")
            elif r["state"] == "failed":
                text = f"{r['error'] or 'no log'}" + (
                    f" [the next training is refused: {r['blocked']}]" if r.get("blocked") else
                    f" [resumes from {r['resumes_from']}]" if r["resumes_from"] else " [starts afresh]")
            else:
                text = ""
            lines.append(f"{head} {text}".rstrip())
    if status["archived"]:
        lines.append("\nmoved aside (finished runs whose recipe changed; nothing is deleted):")
        lines += [f"  {a['run']}: {a['reason'] or ''}" for a in status["archived"]]
    if status["unclaimed"]:
        lines.append(f"\nnamed by no table of this profile ({UNCLAIMED}):")
        lines += [f"  {run}" for run in status["unclaimed"]]
    return "\n".join(lines)

