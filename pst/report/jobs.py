"""The `pst table` and `pst plot` jobs: each checks its inputs and its outputs (never over a file pst did not
write, never one of its inputs, never inside a run or a dataset) before it calls the writer of what it makes."""
from __future__ import annotations

from pathlib import Path

from pst.io import check_not_inside, check_output, read_record
from pst.layout import TABLES
from pst.report.plots import (CURVE_HEADER, accuracy_vs_gflops, check_figure, curve_data, curves, result_table,
                              row_runs, write_curve_data)
from pst.report.tables import flops_table, load_counts, write_metrics, write_table
from pst.study import read_spec


def tabulate(kind: str, out: str, inputs: list[str] = (), spec: str | None = None, memory: list[str] = ()) -> str:
    """`pst table KIND`: one table job's files at ``out`` (a study table, per-class results, a row's curves, the
    released checkpoints' table, the FLOPs table, the profile's metrics), never over a file pst did not write or
    one of its inputs; what was written, as the command prints it."""
    inputs = list(inputs)
    if not out.strip():
        raise ValueError("--out: an empty path; name the table's path (without suffix)")
    if out.endswith("/"):          # (a folder of that name may stand beside: results/flops/ and flops.md)
        raise ValueError(f"--out {out}: a folder; name the table's path (without suffix)")
    if kind == "curve":                      # each row's curves: CSVs `pst table curve` wrote, or nothing
        runs = row_runs(read_spec(spec))
        check_not_inside(Path(out) / "x.csv")
        for variant in runs:
            check_output(Path(out) / f"{variant}.csv", [spec or ""], CURVE_HEADER)
        _check_finished(runs)
        return "\n".join(map(str, write_curve_data(curve_data(runs), out)))
    outputs = [out] if kind == "metrics" else [f"{out}{s}" for s in (".md", ".csv", ".json")]
    for path in outputs:                          # never one of the table's inputs
        check_output(path, inputs + [spec or ""])
    if any(Path(p).exists() for p in outputs):    # nor a file `pst table` did not write
        mine = outputs[-1]
        try:
            record = read_record(mine, "", "", None if kind == "metrics" else {"title": str, "metrics": dict})
            if kind == "metrics" and not all(isinstance(v, dict) for v in record.values()):
                raise ValueError("not a metrics file")
        except ValueError:
            there = next(p for p in outputs if Path(p).exists())
            raise ValueError(f"--out {out}: {there} exists and was not written by `pst table`; choose another "
                             "--out, or remove it") from None
    check_not_inside(out)
    if kind in ("flops", "metrics") and not inputs:
        raise ValueError(f"table {kind}: no input records given; name the records to tabulate")
    own = Path(out).parent / TABLES                 # a profile's metrics.json: of that profile's tables only
    if kind == "metrics" and own.is_dir():
        alien = next((i for i in inputs if Path(i).resolve().parent != own.resolve()), None)
        if alien:
            raise ValueError(f"--out {out}: the metrics of the tables in {own}, not of {alien} (another profile's "
                             "or a loose table); choose another --out")
    if kind == "flops":
        df = flops_table(load_counts(inputs))
        return "\n".join(map(str, write_table(df, out, "FLOPs and params per view (multiply-add = 1 FLOP), ours vs "
                                                    "paper", {"kind": "flops"})))
    if kind == "released":
        from pst.report.released import write

        return f"{out}.md/.csv/.json: {len(write(read_spec(spec, released=True), out))} rows"
    if kind == "metrics":
        return str(write_metrics(inputs, out))
    if kind == "per-class":
        from pst.report.per_class import write

        return str(write(read_spec(spec), out))
    from pst.report.study_table import MissingRunsError, write

    try:
        df = write(read_spec(spec), inputs, out, memory=memory)
    except MissingRunsError as err:
        raise ValueError(str(err)) from None
    return f"{out}.md/.csv/.json: {len(df)} rows"


def _check_finished(runs: dict[str, list[str]]) -> None:
    """Each run's files as training wrote and sealed them (what `pst table study` checks too): a curve is never
    drawn from an edited metrics.json."""
    from pst.engine.run import check_run_files

    for dirs in runs.values():
        for d in dirs:
            check_run_files(Path(d))


def draw(spec: dict, table_path: str | Path, out_dir: str) -> list[Path]:
    """`pst plot`: a study table's figures (curves, accuracy vs GFLOPs, confusions) in ``out_dir``, from the runs
    its spec names and the table `pst table study` wrote of them (checked to be that spec's table first)."""
    from pst.io import locked
    from pst.report.per_class import confusion_figure
    from pst.report.study_table import PROFILE_MARK

    if not out_dir.strip():
        raise ValueError("--out-dir: an empty path; name the figures' folder")
    out = f"{out_dir}/{spec['name']}"
    for figure in ("curves", "accuracy_vs_gflops"):          # the outputs first: nothing is read for a figure
        for ext in ("png", "svg"):                           # that could not be written
            check_figure(f"{out}_{figure}.{ext}")
    check_figure(f"{out}_confusion.png")
    runs = row_runs(spec)
    table = result_table(table_path)                        # every input read before any figure is drawn
    title = table.get("title")
    if title != f"{spec['title']}{PROFILE_MARK}{spec['profile']}":
        raise ValueError(f"--table {table_path}: the table {title!r}, not the spec's {spec['title']!r} of profile "
                         f"{spec['profile']}; give the spec and the table of one table")
    rows = {r.get("model") for r in table["rows"] if r.get("seeds")}                     # those it trained
    if rows != set(runs):
        raise ValueError(f"--table {table_path}: its trained rows ({', '.join(sorted(map(str, rows)))}) are not the "
                         f"spec's ({', '.join(sorted(runs))}); give the spec and the table of one table")
    _check_finished(runs)
    with locked(out, "pst plot"):                       # two drawings of one table into one folder would mix
        paths = curves(curve_data(runs), f"{out}_curves",
                       f"{spec['title']} — training curves (band: min–max over seeds)")
        paths += accuracy_vs_gflops(table_path, f"{out}_accuracy_vs_gflops")
        paths += [confusion_figure(spec, f"{out}_confusion.png")]
    return paths
