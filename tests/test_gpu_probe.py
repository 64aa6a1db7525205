"""benchmarks/gpu.py, the GPU probe, at a tiny shape on the CPU (so it cannot rot before a GPU runs it): every
setting it times, the compile path (aot_eager), a two-process DDP step (gloo), the loader on a real list."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_gpu_probe_runs_every_part_at_a_tiny_shape(tmp_path):
    from pst.datasets.synthetic import SynthConfig, generate

    synth_set = tmp_path / "synth"
    generate(synth_set, SynthConfig(pairs=1, train_per_class=2, val_per_class=1, frames=16, size=32))
    out = tmp_path / "gpu.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks/gpu.py"), "--tiny", "--out", str(out),
                    "--models", "pst_t", "--steps", "1", "--warmup", "1", "--backend", "aot_eager",
                    "--ddp", "2", "--loader-list", str(synth_set / "train.txt"), "--loader-recipe", "tiny_pst",
                    "--loader-clips", "4"], check=True, capture_output=True, text=True, cwd=ROOT)
    report = json.loads(out.read_text())
    rows = {(r["model"], r["mode"]): r for r in report["rows"]}
    assert set(rows) == {(m, mode) for m in ("pst_t",) for mode in ("eager", "compile")}
    for row in rows.values():
        assert row["dtype"] == "bf16" and row["clips_per_s"] > 0 and row["tflops"] > 0, row
    assert rows[("pst_t", "eager")]["paper_memory_gb"] == 3.7                         # Table 2(e)'s column
    assert report["ddp"]["world_size"] == 2 and report["ddp"]["backend"] == "gloo"
    loader = report["loader"]
    assert loader["clips"] == 4 and loader["frames_decoded_per_clip"] >= loader["frames_per_clip"]
    assert loader["cores_per_gpu_needed"] == loader["gpu_clips_per_s"] / loader["clips_per_s"]
    from pst.engine.bench import gpu_probe
    assert gpu_probe(out) is None                    # a CPU run is never taken for a GPU's rate by `pst cost`
