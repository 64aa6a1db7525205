"""The environment a result was computed on, captured in one place: the software versions, the device and, on a
CPU, its model and the instruction set torch's kernels dispatch to (they decide a CPU training's bits). A run's
env.json, the results pages and the benchmarks' reports all take theirs from here."""
from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

# The packages a results page lists (their versions, or "not installed").
PACKAGES = ("torch", "torchvision", "timm", "decord", "av", "snakemake", "snakemake-executor-plugin-slurm", "dvc",
            "pandas", "tabulate", "grad-cam", "matplotlib")


def cpu_name() -> str:
    """The CPU's model and the instruction set torch's ATen kernels dispatch to (e.g. "AMD EPYC (AVX512)"): both
    decide a CPU training's bits, and the model name alone does not tell an AVX2-only EPYC from an AVX-512 one."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import torch

        return f"{model} ({torch.backends.cpu.get_cpu_capability()})"
    except (ImportError, AttributeError):
        return model


def device_name(device) -> str:
    """One device's name: the GPU's, or the CPU's model and instruction set."""
    import torch

    device = torch.device(device)
    return torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()


def device_description() -> str:
    """The machine a result was computed on, as the results pages print it."""
    import torch

    if torch.cuda.is_available():
        return f"{torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}"
    return f"CPU: {cpu_name()}, {os.cpu_count()} logical cores, no GPU"


def software() -> dict:
    """The versions a training's bits depend on (a run's env.json)."""
    import timm
    import torch

    import pst

    return {"torch": torch.__version__, "timm": timm.__version__, "python": platform.python_version(),
            "pst": pst.__version__}


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def packages() -> dict:
    """Python's and each of PACKAGES' versions (a results page's environment)."""
    return {"python": platform.python_version(), **{p: package_version(p) for p in PACKAGES}}
