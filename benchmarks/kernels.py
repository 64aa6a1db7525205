"""CPU kernels (issue: the embedded study), written to benchmarks/results/kernels.json.

Why: the study's data are byte-identical on every x86 CPU, its weights are not. An AMD EPYC and an Intel Xeon (both
AVX-512) train the same recipe from the same bytes to other weights, because the float kernels torch picks differ
by CPU: MKL's sgemm dispatches by vendor, oneDNN's convolutions and ATen's vectorized ops by ISA. This measures,
for AdamW steps of the study's two tiny models (their recipes and variants read from params.yaml), which of those
choices moves the weights on this CPU, and what the vendor-independent setting costs: MKL's documented
cross-vendor branch (MKL_CBWR=COMPATIBLE, SSE2), ATen capped at AVX2, oneDNN and NNPACK off. Each setting runs in
its own process: MKL and ATen read their settings once, at the first call.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = (("tiny_deit", "deit_tps"), ("tiny_pst", "pst_t"))       # recipe, variant: one DeiT and one Swin run
PORTABLE = {"MKL_CBWR": "COMPATIBLE", "ATEN_CPU_CAPABILITY": "avx2", "PST_BENCH_ONEDNN": "0"}
SETTINGS = {
    "native": {},
    "aten_avx2": {"ATEN_CPU_CAPABILITY": "avx2"},
    "onednn_avx2": {"DNNL_MAX_CPU_ISA": "AVX2"},
    "mkl_avx2": {"MKL_ENABLE_INSTRUCTIONS": "AVX2"},
    "portable": PORTABLE,
    # the portable result must not move when the ISA the libraries may use is capped further
    "portable_sse4": {**PORTABLE, "DNNL_MAX_CPU_ISA": "SSE41", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"},
}


def worker(steps: int) -> dict:
    """Train each run's model for ``steps`` AdamW steps on fixed random clips; its weights' hash and time."""
    import torch

    from pst.engine.build import build_model
    from pst.engine.config import resolve
    from pst.study import Run, load

    torch.set_num_threads(1)
    if os.environ.get("PST_BENCH_ONEDNN") == "0":
        torch.backends.mkldnn.enabled = False
        torch.backends.nnpack.set_flags(False)
    study = load(ROOT / "params.yaml", "synthetic")
    out = {}
    for recipe, variant in RUNS:
        cfg = resolve(study.recipe(Run("synthetic", recipe, variant, 0)))
        torch.manual_seed(0)
        model = build_model(cfg, 4)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        size, frames = cfg["data"]["train"]["size"], cfg["data"]["sampling"]["clip_len"]
        batch = cfg["train"]["batch_per_device"]
        x, y = torch.randn(batch, 3, frames, size, size), torch.arange(batch) % 4
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            times.append(time.perf_counter() - start)
        digest = hashlib.sha256(b"".join(t.numpy().tobytes() for t in model.state_dict().values())).hexdigest()
        steady = sorted(times[1:] or times)                  # the first step allocates; the median resists noise
        out[variant] = {"seconds_per_step": steady[len(steady) // 2], "weights_sha256": digest[:16]}
    return {"cpu_capability": torch.backends.cpu.get_cpu_capability(), "runs": out}


def run_setting(env: dict, steps: int) -> dict:
    knobs = {key for setting in SETTINGS.values() for key in setting}      # "native" means none of them set
    full = {**{k: v for k, v in os.environ.items() if k not in knobs}, "OMP_NUM_THREADS": "1", **env}
    proc = subprocess.run([sys.executable, __file__, "--worker", str(steps)], env=full, capture_output=True,
                          text=True, check=True, cwd=ROOT)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def mkl_processor_line() -> str:
    """The processor family MKL says it dispatches for (its verbose banner): generic 'Intel(R) Architecture
    processors' on an AMD EPYC."""
    code = "import torch; a = torch.ones(64, 64); a @ a"
    proc = subprocess.run([sys.executable, "-c", code], env={**os.environ, "MKL_VERBOSE": "1"},
                          capture_output=True, text=True)
    banner = next((line for line in proc.stdout.splitlines() if "oneMKL" in line or "Intel(R) MKL" in line), "")
    return re.sub(r"\s+", " ", banner.replace("MKL_VERBOSE", "")).strip()


def main(quick: bool = False, out: str = "benchmarks/results/kernels.json") -> dict:
    from pst.io import write_text
    from pst.env import device_description         # the results page's `device` line, to set the two side by side

    steps, rounds = (2, 1) if quick else (20, 3)
    # rounds interleave the settings, so a slow spell of a shared machine hits all of them; per setting the median
    # round's time is kept, and every round must give the same weights
    tries = [{name: run_setting(env, steps) for name, env in SETTINGS.items()} for _ in range(rounds)]
    results = {}
    for name in SETTINGS:
        runs = {v: sorted(t[name]["runs"][v]["seconds_per_step"] for t in tries) for v in tries[0][name]["runs"]}
        results[name] = {"cpu_capability": tries[0][name]["cpu_capability"],
                         "runs": {v: {"seconds_per_step": times[len(times) // 2],
                                      "weights_sha256": tries[0][name]["runs"][v]["weights_sha256"]}
                                  for v, times in runs.items()}}
    native, portable = results["native"]["runs"], results["portable"]["runs"]
    report = {
        "quick": quick, "device": device_description(), "mkl": mkl_processor_line(), "steps": steps, "rounds": rounds,
        "same_weights_every_round": all(t[n]["runs"][v]["weights_sha256"] == results[n]["runs"][v]["weights_sha256"]
                                        for t in tries for n in SETTINGS for v in results[n]["runs"]),
        "runs": [f"{r}/{v}" for r, v in RUNS], "settings": SETTINGS, "results": results,
        "moves_weights": {name: any(r["runs"][v]["weights_sha256"] != native[v]["weights_sha256"] for v in native)
                          for name, r in results.items() if name != "native"},
        "portable_stable_under_isa_caps": all(results["portable_sse4"]["runs"][v]["weights_sha256"]
                                              == portable[v]["weights_sha256"] for v in portable),
        "portable_step_time_ratio": {v: portable[v]["seconds_per_step"] / native[v]["seconds_per_step"]
                                     for v in native},
    }
    print(json.dumps(report))
    write_text(out, json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        print(json.dumps(worker(int(sys.argv[2]))))
    else:
        main(quick="--quick" in sys.argv)
