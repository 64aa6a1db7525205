"""`pst verify [REV]`: did this checkout's regenerated results reproduce the ones committed at REV?

Three verdicts, from the versioned artifacts only (a profile's ``results/<profile>/`` as git tracks it):

- **identical**: every tracked file there has REV's bytes and nothing new was written (the same machine kind);
- **reproduced within tolerance**: the bytes differ (another CPU kind's kernels train other weights) but every
  table cell that seeds move is within the tolerance below, and every other cell is equal;
- **not reproduced**: some cell is outside it; each such cell is named (table, row, column, committed, now).

The tolerance is derived from the committed seeds' spread, not chosen: a mean (top-1, twin top-1, ...) must lie in
REV's 95% t-interval of that mean, never narrower than one video of one seed (100 / videos points: three seeds that
all scored 100 % leave a t-interval of zero width, which one video would fall outside); a paired difference against
the table's 2D row must keep its sign and whether its interval excludes 0 (resolved or not). A mean without an
interval (a single seed) must equal REV's to the printed decimal (0.05). Cells that are a seed's own number, a
spread or a derived difference to the paper are not checked on their own (the mean and its interval already are);
every other cell (model, views, input, cost, seeds) must be equal. Beside the tables, the files they are read with
must agree with them: metrics.json holds the tables' numbers, every run record has its manifest's bytes and a
top-1 its predictions recount, and every other changed file derived from them — a table's Markdown and CSV, the
curves, the per-class results, the results page above its environment — is what its sources give again (rendered
anew into memory or a scratch folder and compared). An edit by hand anywhere there is "not reproduced" too, each
file named; figures are not compared (their pixels follow the numbers already checked). Exit status 1 only for
"not reproduced" (pst.cli).
"""
from __future__ import annotations

import contextlib
import json
import math
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from pst.layout import PARAMS, Layout
from pst.report.compare import check_revision

IDENTICAL, WITHIN, NOT_REPRODUCED = "identical", "reproduced within tolerance", "not reproduced"
KEYS = ("model", "views", "checkpoint")                       # what names a row (released tables: checkpoint)
SINGLE_SEED = 0.05                                            # half the printed decimal
UNCHECKED = re.compile(r".* (std|seed\d+|ci95 low|ci95 high|resolved)$|^Δ |.*videos per s.*")
TOLERANCE = ("each mean inside the committed 95% interval of the mean, widened to one video of one seed where it "
             "is narrower (one seed, no video count: within 0.05), each paired top-1 difference keeps its sign and "
             "whether it is resolved (a validation-curve area's: its sign), every other cell equal")
SECONDARY = " val auc"          # a paired difference of the curve area: its resolution moves across CPU kinds


@dataclass
class Verdict:
    verdict: str
    checked: int = 0                                           # cells compared
    outside: list[str] = field(default_factory=list)           # one line per cell outside the tolerance
    changed_files: list[str] = field(default_factory=list)
    machines: tuple[str, str] = ("", "")                       # the device line at REV and now
    unclaimed: list[str] = field(default_factory=list)         # run folders no table of the profile names

    @property
    def exit_code(self) -> int:
        return 1 if self.verdict == NOT_REPRODUCED else 0


def _git(args: list[str], repo: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)


def _changed(rev: str, folder: str, repo: Path) -> list[str]:
    """Tracked files under ``folder`` whose bytes differ from ``rev``'s, and files git would add there."""
    diff = _git(["diff", "--name-only", rev, "--", folder], repo).stdout.split("\n")
    new = _git(["ls-files", "--others", "--exclude-standard", "--", folder], repo).stdout.split("\n")
    return sorted({p for p in diff + new if p})


def _device(readme: str) -> str:
    """The results page's device line (pst.report.readme writes it)."""
    m = re.search(r"^\| device \| (.*) \|$", readme, re.M)
    return m.group(1) if m else "not recorded"


def _row_key(row: dict) -> tuple:
    return tuple(row.get(k) for k in KEYS)


def _same(a, b) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return abs(a - b) <= 1e-9 * max(1.0, abs(a))
    return a == b


def compare_rows(table: str, old: list[dict], new: list[dict]) -> tuple[int, list[str]]:
    """(cells checked, cells outside the tolerance) between two versions of one table's rows."""
    outside, checked = [], 0
    now = {_row_key(r): r for r in new}
    for row in old:
        name = "/".join(str(v) for v in _row_key(row) if v is not None)
        mine = now.pop(_row_key(row), None)
        if mine is None:
            outside.append(f"{table}: row {name} is missing now")
            continue
        for col, was in row.items():
            if UNCHECKED.match(col):
                continue
            checked += 1
            is_ = mine.get(col)
            low, high = row.get(f"{col} ci95 low"), row.get(f"{col} ci95 high")
            if col.startswith("vs ") and f"{col} resolved" in row:         # a paired difference to the 2D row
                if was is None or is_ is None:
                    ok = was is is_
                else:
                    ok = ((was > 0) == (is_ > 0)) and (col.endswith(SECONDARY) or
                                                       row[f"{col} resolved"] == mine.get(f"{col} resolved"))
                why = "sign changed" if col.endswith(SECONDARY) else "sign or resolution changed"
            elif f"{col} std" in row and isinstance(was, (int, float)):        # a mean over seeds
                low, high = _interval(was, row[f"{col} std"], row.get("seeds") or 1, low, high, row.get("videos"))
                ok = isinstance(is_, (int, float)) and low - 1e-9 <= is_ <= high + 1e-9
                why = f"outside the committed interval [{low:.2f}, {high:.2f}]"
            else:
                ok = _same(was, is_)
                why = "changed"
            if not ok:
                outside.append(f"{table}: {name}, {col}: committed {_fmt(was)}, now {_fmt(is_)} ({why})")
    for key in now:
        outside.append(f"{table}: row {'/'.join(str(v) for v in key if v is not None)} is new")
    return checked, outside


def _interval(mean: float, std, seeds: int, low, high, videos=None) -> tuple[float, float]:
    """The committed 95% t-interval of a mean: as the table recorded it, else from its std and seeds (clipped to
    0-100 like the tables' own); a single seed: the printed decimal. Never narrower than one video of one seed
    (``videos``: the videos each seed was scored on), the resolution an accuracy is measured at."""
    if low is None or high is None:
        if seeds < 2 or std is None:
            low, high = mean - SINGLE_SEED, mean + SINGLE_SEED
        else:
            from scipy.stats import t

            half = float(t.ppf(0.975, seeds - 1)) * std / seeds ** 0.5
            low, high = max(0.0, mean - half), min(100.0, mean + half)
    if videos:
        step = 100.0 / videos
        low, high = min(low, max(0.0, mean - step)), max(high, min(100.0, mean + step))
    return low, high


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.2f}" if abs(v) >= 1 else f"{v:.4g}"
    return str(v)


def verify(rev: str, profile: str, repo: str | Path = ".") -> Verdict:
    """The verdict on ``results/<profile>/`` in the working tree of ``repo`` against revision ``rev``."""
    repo = Path(repo)
    if not profile.strip():
        raise ValueError("--profile: an empty name; name a profile of params.yaml (default: synthetic)")
    check_revision(rev, repo)
    layout = Layout(profile)
    tables_dir = str(Path(layout.table("x")).parent)
    listing = _git(["ls-tree", "--name-only", f"{rev}:{tables_dir}"], repo)
    names = sorted(Path(f).stem for f in listing.stdout.split() if f.endswith(".json"))
    if listing.returncode != 0 or not names:
        raise ValueError(f"revision {rev}: no tables of profile {profile!r} ({tables_dir}/*.json) to verify against; "
                         f"commit that profile's results first, or name another --profile")
    before = _git(["show", f"{rev}:{layout.readme}"], repo).stdout
    now_page = repo / layout.readme
    machines = (_device(before), _device(now_page.read_text()) if now_page.is_file() else "not recorded")
    changed = _changed(rev, layout.results, repo)
    unclaimed = _unclaimed(repo, profile)
    if not changed:
        return Verdict(IDENTICAL, changed_files=[], machines=machines, unclaimed=unclaimed)
    checked, outside = 0, []
    for name in names:
        path = f"{layout.table(name)}.json"
        try:
            old = json.loads(_git(["show", f"{rev}:{path}"], repo).stdout)["rows"]
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise ValueError(f"revision {rev}: {path} is not a table written by `pst table` ({err}); verify "
                             "against another revision") from None
        mine = repo / path
        if not mine.is_file():
            outside.append(f"{name}: {path} is missing now (run `make reproduce`, or the profile's study, first)")
            continue
        try:
            new = json.loads(mine.read_text())["rows"]
            if not isinstance(new, list) or not all(isinstance(r, dict) for r in new):
                raise TypeError("its rows are not a list of objects")
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise ValueError(f"{path}: not a table written by `pst table` ({type(err).__name__}: {err}); rerun its "
                             "table job") from None
        n, bad = compare_rows(name, old, new)
        checked += n
        outside += bad
    gone = [f for f in changed if not (repo / f).exists()]      # a record, page or table deleted is no result
    outside += [f"{f}: missing now (committed at {rev}); rerun the study (`make reproduce`) or restore it"
                for f in gone if not f.startswith(f"{tables_dir}/") or not f.endswith(".json")]
    outside += check_metrics(repo / layout.metrics, repo / tables_dir) + check_records(repo / layout.records)
    outside += check_derived([f for f in changed if f not in gone], profile, repo)
    return Verdict(NOT_REPRODUCED if outside else WITHIN, checked, outside, changed, machines, unclaimed)


def check_metrics(path: Path, tables: Path) -> list[str]:
    """The profile's metrics.json is its tables' numbers (what `dvc metrics diff` compares): a line for each
    table whose entry is not, or one line when the file is not JSON."""
    fix = "rerun the study's metrics job (or restore the file)"
    if not path.is_file():
        return []
    try:
        merged = json.loads(path.read_text())
        if not isinstance(merged, dict):
            raise TypeError("not an object")
    except (UnicodeDecodeError, json.JSONDecodeError, TypeError) as err:
        return [f"{path}: not the metrics of `pst table metrics` ({type(err).__name__}); {fix}"]
    bad = []
    for name, numbers in sorted(merged.items()):
        table = tables / f"{name}.json"
        try:
            data = json.loads(table.read_text())
            same = data.get("metrics") == numbers
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
            data, same = {}, False
        if not same:
            bad.append(f"{path}: its {name!r} numbers are not those of {table}; {fix}")
        elif not _metrics_match_rows(data):
            bad.append(f"{table}: its metrics (top-1 and its std per row) are not its rows'; rerun its table job")
    return bad


def _metrics_match_rows(table: dict) -> bool:
    """A study table's metrics block holds its rows' top-1 and std, rounded as written (pst.report.study_table
    .metrics): an edit of one without the other is found. Tables of other kinds (no "top-1" rows) pass."""
    metrics = table.get("metrics")
    for row in table.get("rows") or []:
        if not isinstance(row, dict) or not row.get("seeds") or "top-1" not in row:
            continue
        entry = metrics.get(row.get("model")) if isinstance(metrics, dict) else None
        if isinstance(entry, dict) and row.get("views") in entry and "top1" not in entry:
            entry = entry[row["views"]]                  # a table of several views: model -> views -> numbers
        for key, col in (("top1", "top-1"), ("top1_std", "top-1 std")):
            want = row.get(col)
            if isinstance(want, (int, float)) and not math.isnan(want):
                if not isinstance(entry, dict) or entry.get(key) != round(want, 4):
                    return False
    return True


def check_records(root: Path) -> list[str]:
    """Every run record has the bytes its manifest names, and each of its evaluations' top-1 is its predictions'
    (recounted): a line for each that does not (a record edited by hand is not a reproduction)."""
    from pst.io import sha256sum
    from pst.layout import EVAL, PREDICTIONS
    from pst.report.records import MANIFEST
    from pst.report.study_table import recount

    bad = []
    for manifest in sorted(root.rglob(MANIFEST)) if root.is_dir() else []:
        folder = manifest.parent
        try:
            files = json.loads(manifest.read_text())["files"]
            for rel, digest in files.items():
                if sha256sum(folder / rel) != digest:
                    raise ValueError(f"{rel} is not the file recorded (its sha256 differs from {MANIFEST}'s)")
            for ev in sorted(folder.glob(f"*/{EVAL}")):
                top1 = json.loads(ev.read_text())["top1"]
                videos, recounted = recount(ev.parent / PREDICTIONS)
                if not videos or abs(recounted - top1) > 1e-3:
                    raise ValueError(f"{ev.relative_to(folder)}: top1 {top1} is not what its {PREDICTIONS} says")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, AttributeError,
                ValueError) as err:
            bad.append(f"{folder}: {err}; rerun its record job (or restore the record)")
    return bad


def check_derived(changed: list[str], profile: str, repo: Path) -> list[str]:
    """A line for each changed file derived from the tables and records that is not what they give again: a
    table's Markdown (rendered from its JSON rows) and CSV (its rows' values), a row's curves (from its runs'
    records), the per-class results (from the records' predictions), the results page above its environment."""
    layout = Layout(profile)
    derived = [Path(f) for f in changed if _kind(Path(f), layout)]
    if not derived:
        return []
    with contextlib.chdir(repo):                    # the study's paths are the repository's
        from pst.study import load

        try:
            study = load(PARAMS, profile)
        except (OSError, ValueError) as err:
            return [f"{PARAMS}: {err}; the files derived from the tables cannot be checked without the study"]
        bad = []
        for path in derived:
            try:
                if not _follows(path, _kind(path, layout), study, layout):
                    bad.append(f"{path}: does not follow from {SOURCES[_kind(path, layout)]}; rerun its job (or "
                               "restore the file)")
            except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
                bad.append(f"{path}: cannot be derived again ({type(err).__name__}: {err}); rerun its job (or restore "
                           "the file)")
        return bad


SOURCES = {"table": "its table's rows (the JSON beside it)", "curves": "its runs' records (metrics.json)",
           "per_class": "its runs' records (predictions.csv)", "readme": "the tables and figures it links"}


def _kind(path: Path, layout: Layout) -> str | None:
    """Which derived file ``path`` is (None: a source, a figure, or no file of the study)."""
    if path == Path(layout.readme):
        return "readme"
    if path.parent == Path(layout.table("x")).parent and path.suffix in (".md", ".csv"):
        return "table"
    if path.parent.parent == Path(layout.curves("x")).parent and path.suffix == ".csv":
        return "curves"
    if path.parent == Path(layout.per_class("x")).parent:
        return "per_class"
    return None


def _follows(path: Path, kind: str, study, layout: Layout) -> bool:
    """Whether ``path`` is what its sources give again (a file of a table the study does not define, e.g. the
    released checkpoints' table: not derived here, True)."""
    import pandas as pd

    from pst.report import per_class, plots, study_table
    from pst.report.readme import ENVIRONMENT, readme_text

    text = path.read_text()
    if kind == "readme":
        tables = [str(path.parent / m) for m in re.findall(r"^\[[^\]]+\]\(([^)]+\.md)\)$", text, re.M)]
        figures = [str(path.parent / m) for m in re.findall(r"^!\[[^\]]*\]\(([^)]+)\)$", text, re.M)]
        again = readme_text(path, tables, figures, study.profile)
        return again.split(ENVIRONMENT)[0] == text.split(ENVIRONMENT)[0]
    tables = {t.name: t for t in study.tables}
    name = path.parent.name if kind == "curves" else path.stem
    if name not in tables:
        return True
    spec = study.table_spec(tables[name])
    if kind == "table":
        data = json.loads(path.with_suffix(".json").read_text())
        df = pd.DataFrame(data["rows"])
        if path.suffix == ".csv":
            return _same_frame(pd.read_csv(path), df)
        with tempfile.TemporaryDirectory() as tmp:
            study_table.render(df, spec, Path(tmp) / "t", data["title"], metrics={})
            return (Path(tmp) / "t.md").read_text() == text
    spec = _on_records(spec, study, tables[name])
    with tempfile.TemporaryDirectory() as tmp:
        if kind == "curves":
            runs = {v: r for v, r in plots.row_runs(spec).items() if v == path.stem}
            if not runs:
                return False
            again = plots.write_curve_data(plots.curve_data(runs), tmp)[0]
        else:
            again = per_class.write(spec, Path(tmp) / "p").with_suffix(path.suffix)
        return again.read_text() == text


def _on_records(spec: dict, study, table) -> dict:
    """A table spec whose runs are their records (what a clone has of them)."""
    record = {study.run_dir(r): study.layout.record_dir(r.dataset, r.recipe, r.variant, r.seed)
              for r in study.table_runs(table)}
    return {**spec, "rows": [{**row, "runs": [record[run] for run in row["runs"]]} for row in spec["rows"]]}


def _same_frame(a, b) -> bool:
    """A table's CSV holds its JSON rows' values (the JSON keeps 10 decimals of each float, the CSV all of them)."""
    import numpy as np

    if list(a.columns) != list(b.columns) or len(a) != len(b):
        return False
    for col in a.columns:
        for x, y in zip(a[col].tolist(), b[col].tolist()):
            missing = [v is None or (isinstance(v, float) and math.isnan(v)) for v in (x, y)]
            if any(missing):
                if not all(missing):
                    return False
            elif isinstance(x, (int, float, np.number)) and isinstance(y, (int, float, np.number)):
                if abs(float(x) - float(y)) > 1e-9 + 1e-12 * abs(float(y)):
                    return False
            elif str(x) != str(y):
                return False
    return True


def _unclaimed(repo: Path, profile: str) -> list[str]:
    """The profile's run folders that no table of it names (pst.study.Study.unclaimed_runs), when the checkout's
    params.yaml has that profile."""
    from pst.study import Study, load

    params = repo / PARAMS
    if not params.is_file():
        return []
    config = load(params).config
    return Study(config, profile).unclaimed_runs(repo) if profile in config["profiles"] else []


def render(v: Verdict, rev: str, profile: str) -> str:
    """What `pst verify` prints: the verdict last, on its own line."""
    lines = [f"committed at {rev}: {v.machines[0]}", f"this checkout:      {v.machines[1]}"]
    if v.unclaimed:
        lines.append(f"note: {len(v.unclaimed)} run folder(s) named by no table of profile {profile} (e.g. "
                     f"{v.unclaimed[0]}; `pst status` lists them) are part of the DVC output results/{profile}/runs: "
                     "this dvc.lock is not a fresh clone's; move them out of the repository to keep them elsewhere")
    if v.verdict == IDENTICAL:
        lines.append(f"{profile}: identical: every file of results/{profile} has {rev}'s bytes")
        return "\n".join(lines) + "\n"
    lines.append(f"{len(v.changed_files)} files of results/{profile} differ from {rev}; {v.checked} table cells "
                 f"checked ({TOLERANCE})")
    lines += [f"  outside: {line}" for line in v.outside]
    tail = (f"{profile}: {v.verdict}" if v.verdict == WITHIN else
            f"{profile}: {v.verdict}: {len(v.outside)} cells outside the tolerance (if the change was intended, "
            f"commit results/{profile} and dvc.lock)")
    return "\n".join(lines + [tail]) + "\n"
