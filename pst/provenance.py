"""Where a result came from: the revision of the code and a content fingerprint of the package's source.

The revision is the last commit that changed the code (the package, the workflow, params.yaml, dvc.yaml,
pyproject.toml), not HEAD: results/ and dvc.lock are written by the very run that records it and committed after
it, and a commit of results, docs or tests changes no result, so a fresh clone names the same revision. The
fingerprint is a hash of source files, the same for the same code on any clone, so it can sit in a committed
table without breaking byte-for-byte regeneration. Torch-free.
"""
from __future__ import annotations

import functools
import hashlib
import subprocess
from pathlib import Path

from pst.layout import PARAMS

PACKAGE = Path(__file__).parent
# The code each kind of result is computed by: the modules a job of that kind runs, with everything of this package
# they import (pst.provenance.module_files), so a log line edited in training code reruns no evaluation while any
# edit to what an evaluation imports does. Training is left out on purpose: a run reruns only when its recipe
# changes, while evaluations, FLOPs, tables and figures follow the code (the rules carry these fingerprints). The
# synthetic set is its generator's own file only (it reads one video back through the loader, which changes no
# byte it writes): a loader edit must not render the set, and so retrain every run, again.
CODE = {"synth": ("datasets/synthetic.py",),
        "evaluate": ("pst.engine.evaluate",),
        "flops": ("pst.report.flops",),
        "memory": ("pst.report.memory",),
        "report": ("pst.report.study_table", "pst.report.plots", "pst.report.cam", "pst.report.readme",
                   "pst.report.released", "pst.report.tables", "pst.study")}


def _module_file(name: str) -> Path | None:
    rel = Path(*name.split(".")[1:])
    for f in ([PACKAGE / rel.with_suffix(".py")] if rel.parts else []) + [PACKAGE / rel / "__init__.py"]:
        if f.is_file():
            return f
    return None


@functools.lru_cache(maxsize=None)
def module_files(*modules: str) -> tuple[Path, ...]:
    """The package's source files ``modules`` run: each module, its packages' ``__init__`` and, transitively,
    every ``pst`` module it imports (at the top or inside a function), read from the source, nothing imported."""
    import ast

    seen: set[Path] = set()
    todo = list(modules)
    while todo:
        parts = todo.pop().split(".")
        for i in range(1, len(parts) + 1):
            f = _module_file(".".join(parts[:i]))
            if f is None or f in seen:
                continue
            seen.add(f)
            for node in ast.walk(ast.parse(f.read_text())):
                if isinstance(node, ast.Import):
                    todo += [a.name for a in node.names if a.name.split(".")[0] == "pst"]
                elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "pst":
                    todo += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    return tuple(sorted(seen))


def job_fingerprint(kind: str) -> str:
    """The fingerprint of the code a job of ``kind`` (a key of CODE) runs."""
    parts = CODE[kind]
    if parts[0].startswith("pst."):
        return code_fingerprint(*(str(f.relative_to(PACKAGE)) for f in module_files(*parts)))
    return code_fingerprint(*parts)


# What counts as code for the revision (from the repository's top): what can change a result.
CODE_PATHS = ("pst", "workflow", "Snakefile", PARAMS, "dvc.yaml", "pyproject.toml")


def git_revision(cwd: str | Path | None = None) -> str:
    """Short hash of the last commit that changed the code of the repository at ``cwd`` (default: the working
    directory), "+ uncommitted changes" when the code differs from it."""
    paths = [f":(top){p}" for p in CODE_PATHS]
    try:
        rev = subprocess.run(["git", "log", "-1", "--format=%h", "--", *paths], capture_output=True, text=True,
                             timeout=10, cwd=cwd)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", *paths],
                               capture_output=True, text=True, timeout=10, cwd=cwd)
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git)"
    if rev.returncode:
        return "unknown (not a git checkout)"
    if not rev.stdout.strip():
        return "unknown (no commit of the code)"
    return rev.stdout.strip() + (" + uncommitted changes" if dirty.stdout.strip() else "")


def code_fingerprint(*parts: str) -> str:
    """sha256 (16 hex digits) of the package's source files under ``parts`` (e.g. "engine", "report/flops.py"; all
    of it when none): a rule that carries it in its params reruns when the code that computes its output changes."""
    h = hashlib.sha256()
    for part in parts or (".",):
        target = (PACKAGE / part).resolve()
        for f in sorted(target.rglob("*.py")) if target.is_dir() else [target]:
            h.update(str(f.relative_to(PACKAGE)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]
