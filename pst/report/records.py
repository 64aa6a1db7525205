"""A run's record: its small versioned files copied where git keeps them, beside the tables they feed.

The run folder (results/<profile>/runs/...) stays the one owner and lives in the DVC cache with the weights; git
cannot track files inside a DVC-tracked folder, so the workflow copies what a reader of the results needs — the
resolved recipe, the environment, the per-epoch metrics, the summary, each evaluation and its predictions — to
results/<profile>/records/<run>/ (pst.layout). A clone can then read every number behind a committed table, curves
and predictions included, without the DVC cache or retraining. Everything copied is deterministic (pst.engine.train),
so a record regenerates byte for byte.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from pst.engine.config import parse_views
from pst.engine.run import check_run_files, load_config
from pst.io import (check_not_inside, check_out_folder, locked, made_folder, read_record, replace_together,
                    sha256sum)
from pst.layout import EVAL, EVAL_FILES, RunDir, eval_dir
from pst.report.study_table import check_evaluation

MANIFEST = "record.json"           # what was copied and its sha256, written last


def record(run_dir: str | Path, views: list[str], out: str | Path) -> list[Path]:
    """Copy a finished run's small files and its evaluations at ``views`` into ``out`` (same relative paths);
    a file the run lacks stops it, naming the file. One writer per record folder: a second is refused while the
    first writes (two runs' records into one folder would mix their files)."""
    for v in views:
        parse_views(v)                                  # a malformed --views before anything is read
    if Path(out).exists() and not Path(out).is_dir():
        raise ValueError(f"--out {out}: a file; name the record's folder")
    check_not_inside(out)                               # a record goes beside the runs, never into a run or a set
    with made_folder(Path(out).parent), locked(out, "pst record"):
        return _record(Path(run_dir), views, Path(out))


def _record(run_dir: Path, views: list[str], out: Path) -> list[Path]:
    wanted = list(RunDir.RECORDED) + [f"{Path(eval_dir('.', v)).name}/{f}" for v in views for f in EVAL_FILES]
    if not (out / MANIFEST).is_file():                  # an earlier record (or one whose manifest went) only
        check_out_folder(out, wanted, ", not a record of pst record; choose another folder")
    else:                                               # a record is replaced only by its own run's
        was = read_record(out / MANIFEST, "a record's manifest", "remove the folder to record again").get("run")
        if was != str(run_dir):
            raise ValueError(f"--out {out}: the record of another run ({was}); choose another folder")
    missing = [f for f in wanted if not (run_dir / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{run_dir}: no {', '.join(missing)}; the run or its evaluation has not finished "
                                "(snakemake builds them)")
    cfg = load_config(run_dir)
    check_run_files(run_dir)                            # a damaged file is not recorded as the run's
    for v in views:
        path = Path(eval_dir(run_dir, v)) / EVAL
        try:
            check_evaluation(read_record(path, "an evaluation record of `pst evaluate`", "evaluate the run again",
                                         {"top1": (int, float)}), path, str(run_dir), v, cfg)
        except ValueError as err:
            raise ValueError(f"{path}: {err}; evaluate the run again into a new folder") from None
    fresh = not out.exists()
    manifest = {"run": str(run_dir), "files": {rel: sha256sum(run_dir / rel) for rel in wanted}}
    files = {out / rel: (lambda tmp, src=run_dir / rel: shutil.copyfile(src, tmp)) for rel in wanted}
    files[out / MANIFEST] = lambda tmp: tmp.write_text(json.dumps(manifest, indent=1) + "\n")     # last
    try:                                                # all files or none: a record replaced by its run's newer
        return replace_together(files)                  # one is never left half old, half new
    except BaseException:
        if fresh and not (out / MANIFEST).exists():     # a record this call began and could not finish (a full
            shutil.rmtree(out, ignore_errors=True)      # disk, a signal) is not left half-written
        raise
