"""Workflow speed (issue: workflow, section 7), measured in one run and written to benchmarks/results/workflow.json:

- plan: `snakemake -n` of the synthetic, paper and rehearsal profiles (every dataset, variant, seed and view), cold
  (every recipe checked, models built on the meta device) and warm (the same plan checked before);
- no-op: a real `snakemake --cores all` rerun of the synthetic study when everything is up to date (needs the study
  built in the working tree, e.g. by `make reproduce`; otherwise reported as not measured);
- full (``--full`` only, ~15 min on 2 cores): the synthetic study from scratch in a temporary copy of the workflow.

Times are wall-clock seconds of the whole command, interpreter start included. Machines with the SLURM client
tools and a slurm.conf but no controller answering: the SLURM executor plugin, when installed, probes
`sacct`/`scontrol` as snakemake starts and waits for their time-outs (~9 s here). It is an optional extra
(`pip install -e .[slurm]`) for that reason, and `local-cluster.sh stop` removes the conf link it made. The JSON
records which case was measured: tools on PATH, a conf present, a controller answering, the plugin installed (run
with a cluster up, e.g. `workflow/slurm/local-cluster.sh start DIR` and SLURM_CONF set, for that case:
`--out benchmarks/results/workflow_slurm_up.json`).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


SLURM_TOOLS = ("sacct", "squeue", "scontrol", "sbatch", "sinfo", "srun", "scancel")


def _path_without_slurm(tmp: Path) -> str:
    """PATH entries with the SLURM client tools hidden (each directory mirrored by symlinks, minus those tools)."""
    dirs = []
    for i, d in enumerate(os.environ.get("PATH", "").split(os.pathsep)):
        if not d or not Path(d).is_dir():
            continue
        if not any((Path(d) / t).exists() for t in SLURM_TOOLS):
            dirs.append(d)
            continue
        mirror = tmp / f"bin{i}"
        mirror.mkdir()
        for f in Path(d).iterdir():
            if f.name not in SLURM_TOOLS:
                (mirror / f.name).symlink_to(f)
        dirs.append(str(mirror))
    return os.pathsep.join(dirs)


def _timed(cmd: list[str], cwd: Path, path: str | None = None) -> tuple[float, subprocess.CompletedProcess]:
    path = os.environ.get("PATH", "") if path is None else path
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{path}")
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    return time.perf_counter() - t0, out


def _controller_up() -> bool:
    """Whether a SLURM controller answers (SLURM_CONF honoured): with one up, the plugin's probes return at once."""
    if not shutil.which("scontrol"):
        return False
    try:
        return subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=30).stdout.count("UP") > 0
    except subprocess.TimeoutExpired:
        return False


def main(quick: bool = False, out: str = "benchmarks/results/workflow.json", full: bool = False) -> dict:
    from importlib.util import find_spec

    conf = os.environ.get("SLURM_CONF", "/etc/slurm/slurm.conf")
    report = {"slurm_tools_on_path": bool(shutil.which("sacct") or shutil.which("scontrol")),
              "slurm_conf_present": Path(conf).is_file(), "slurm_controller_up": _controller_up(),
              "slurm_plugin_installed": find_spec("snakemake_executor_plugin_slurm") is not None,
              "cpus": os.cpu_count()}
    # cold: every recipe checked (the models built on the meta device: torch imported); warm: the plan passed before
    # and is remembered in .snakemake/pst-checked/, as on every rerun of an unchanged study
    shutil.rmtree(ROOT / ".snakemake" / "pst-checked", ignore_errors=True)
    for kind in ("cold", "warm"):
        for profile in ("synthetic", "paper", "rehearsal"):
            seconds, res = _timed(["snakemake", "-n", "--cores", "1", "--config", f"profile={profile}"], ROOT)
            report[f"plan_{profile}_{kind}_s"] = round(seconds, 2)
            jobs = [ln.split() for ln in res.stdout.splitlines() if ln.strip().startswith("total")]
            report[f"plan_{profile}_jobs"] = int(jobs[-1][1]) if jobs else 0
    for profile in ("synthetic", "paper", "rehearsal"):
        report[f"plan_{profile}_s"] = report[f"plan_{profile}_warm_s"]
    seconds, res = _timed(["snakemake", "-n", "--cores", "1"], ROOT)
    if "Nothing to be done" in res.stdout + res.stderr:
        seconds, res = _timed(["snakemake", "--cores", "all", "--profile", "workflow/profiles/default"], ROOT)
        report["noop_synthetic_s"] = round(seconds, 2)
    else:
        report["noop_synthetic_s"] = None
        report["noop_note"] = "the synthetic study is not built in this tree; run `make reproduce` first"
    if report["slurm_tools_on_path"]:                    # the same without the plugin's probes
        with tempfile.TemporaryDirectory() as tmp:
            hidden = _path_without_slurm(Path(tmp))
            for profile in ("synthetic", "paper", "rehearsal"):
                seconds, _ = _timed(["snakemake", "-n", "--cores", "1", "--config", f"profile={profile}"], ROOT,
                                    hidden)
                report[f"plan_{profile}_s_without_slurm_tools"] = round(seconds, 2)
            if report["noop_synthetic_s"] is not None:
                seconds, _ = _timed(["snakemake", "--cores", "all", "--profile", "workflow/profiles/default"],
                                    ROOT, hidden)
                report["noop_synthetic_s_without_slurm_tools"] = round(seconds, 2)
    if full:
        with tempfile.TemporaryDirectory() as tmp:
            for name in ("Snakefile", "workflow", "params.yaml"):
                src = ROOT / name
                (shutil.copytree if src.is_dir() else shutil.copy)(src, Path(tmp) / name)
            shutil.copytree(ROOT / "results" / "flops", Path(tmp) / "results" / "flops")
            seconds, res = _timed(["snakemake", "--cores", "all", "--profile", "workflow/profiles/default"], Path(tmp))
            report["full_synthetic_s"] = round(seconds, 1)
            report["full_synthetic_ok"] = res.returncode == 0
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--full", action="store_true", help="also run the whole synthetic study from scratch")
    p.add_argument("--out", default="benchmarks/results/workflow.json")
    a = p.parse_args()
    main(out=a.out, full=a.full)
