import os
import shutil
import sys
from pathlib import Path

# pytest-xdist's workers share the cores: each worker's torch, and every process a test starts, gets its share of
# threads (two workers of two threads each on two cores spin against each other: the 24-epoch test took 232 s
# against 73 s, the unit suite 793 s against 491 s, both measured beside other work)
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))

import pytest  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402

if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def outlived(job, seconds: float = 10) -> list[int]:
    """The processes of ``job``'s session (started with start_new_session) still alive ``seconds`` after it was
    killed: a pool's workers watch the command that started them once a second and end with it."""
    import time

    def session() -> list[int]:
        alive = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == job.pid and fields[0] != "Z":
                alive.append(int(stat.parent.name))
        return alive
    deadline = time.monotonic() + seconds
    while session() and time.monotonic() < deadline:
        time.sleep(0.2)
    return session()


def pytest_collection_modifyitems(config, items):
    """The slow tests first: `make test` runs every test in one pytest-xdist session whose workers take the tests in
    this order, one at a time (--dist loadgroup), so each slow one starts at once on a worker of its own and the short
    ones fill the cores around it (the SLURM test mostly waits on the scheduler's status checks)."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def env_with_venv():
    """Environment whose PATH finds this interpreter's console scripts (pst, snakemake, dvc)."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def copy_workflow(dest: Path, flops_views: dict | None = None, edit=None) -> dict:
    """Snakefile + workflow/ (and the conda environment its rules name) into ``dest`` with the project's
    params.yaml, its FLOPs views replaced by ``flops_views`` and then passed through ``edit(params)`` when given."""
    for name in ("Snakefile", "workflow", "environment.yml", "environment.post-deploy.sh"):
        src = ROOT / name
        if not (dest / name).exists():
            (shutil.copytree if src.is_dir() else shutil.copy)(src, dest / name)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    if flops_views is not None:
        params["flops"]["views"] = flops_views
    if edit is not None:
        edit(params)
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return params


def micro_study(params: dict) -> None:
    """Shrink the synthetic profile to seconds: 1 twin pair, a few videos, one epoch, two seeds, table 1 with the
    2D and TPS rows, and one FLOPs view (one the table counts anyway)."""
    params["profiles"]["synthetic"].update(seeds=[0, 1], tables=["table1_deit"])
    params["datasets"]["synthetic"]["synth"].update(pairs=1, train_per_class=8, val_per_class=4, frames=8)
    params["tables"]["table1_deit"]["rows"] = {"deit_2d": "deit_s_2d", "deit_tps": "deit_s_tps"}
    params["recipes"]["tiny_deit"]["schedule"] = {"epochs": 2, "warmup_epochs": 0.5}
    params["recipes"]["tiny_deit"]["train"].update(global_batch=4, batch_per_device=4)
    params["flops"]["views"] = {"deit_s_tps": [16, 224]}     # the record the table reads at the paper's input
