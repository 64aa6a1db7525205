"""How a training job becomes processes: one process, torchrun on one node, or one torchrun per node of a SLURM
allocation meeting at a c10d rendezvous on the first node.

    pst launch --nodes N --procs P -- train --config ... --out RUN

- N = 1, P = 1: `pst train ...` itself.
- N = 1, P > 1: `torchrun --standalone --nproc-per-node P -m pst.cli train ...`.
- N > 1 inside a SLURM allocation: `srun --nodes N --ntasks-per-node 1 --kill-on-bad-exit=1` runs this module's
  agent on every node, which execs `torchrun --nnodes N --nproc-per-node P --rdzv-backend c10d --rdzv-endpoint
  HEAD:PORT --rdzv-id JOB` (HEAD: the first node's NodeAddr as SLURM knows it; PORT from the job id, so two jobs
  sharing a head node do not meet each other). `--kill-on-bad-exit` ends every node when one fails.
- N > 1 outside SLURM: the same N x P processes on this machine (torchrun --standalone), which trains the same run:
  the global batch and the data order do not depend on the layout (pst.engine.train).

Failure is loud and bounded: a node that cannot reach the rendezvous stops after PST_RDZV_TIMEOUT seconds (default
300) with torchrun's error naming the endpoint; a rank whose peer dies stops at the next collective (at once when
the peer's connection drops, after PST_DIST_TIMEOUT seconds, default 600, when it silently vanishes) with a line
naming its node, the epoch and the step (pst.engine.train), and exits 75 like a preempted run: the rerun resumes.

Signals: SLURM's time-limit warning (USR1) reaches every process of the step; torchrun's agent would die of it, so
the agent runs with USR1 ignored and the training processes install their own handler (checkpoint at the next step
boundary, exit 75). SIGTERM (preemption) is forwarded by torchrun to the training processes.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from typing import Optional

RDZV_PORT_BASE = 29400


def in_slurm_allocation() -> bool:
    """Inside a SLURM job (SLURM_JOB_ID: what Snakemake's SLURM jobstep keeps of the job's variables; srun attaches
    to the allocation with it, and sets the node list for the tasks it starts)."""
    return bool(os.environ.get("SLURM_JOB_ID") and shutil.which("srun"))


def head_address(nodelist: str) -> str:
    """The first node of the allocation, as an address: its NodeAddr (what SLURM itself connects to; on most
    clusters the host name)."""
    hosts = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True, check=True)
    head = hosts.stdout.split()[0]
    node = subprocess.run(["scontrol", "show", "node", head, "-o"], capture_output=True, text=True)
    for field in node.stdout.split():
        if field.startswith("NodeAddr="):
            return field.split("=", 1)[1]
    return head


def rdzv_port(job_id: str) -> int:
    return RDZV_PORT_BASE + int(job_id) % 20000


# This interpreter's own pst and torchrun: a launch works without the environment's bin/ on PATH (an
# unactivated venv gave "[Errno 2] No such file or directory" naming no program).
PST = (sys.executable, "-m", "pst.cli")
TORCHRUN = (sys.executable, "-m", "torch.distributed.run")


def command(nodes: int, procs: int, args: list[str], slurm: Optional[bool] = None, gpus: int = 0) -> list[str]:
    """The command a job of ``nodes`` x ``procs`` training processes runs (``args``: the `pst` subcommand and its
    arguments, e.g. ["train", "--config", ...]; ``gpus``: GPUs per node the job holds)."""
    if nodes < 1 or procs < 1:
        raise ValueError(f"launch: --nodes and --procs must be >= 1, got {nodes} and {procs}")
    if nodes == 1 and procs == 1:
        return [*PST, *args]
    slurm = in_slurm_allocation() if slurm is None else slurm
    if nodes == 1 or not slurm:
        return [*TORCHRUN, "--standalone", f"--nproc-per-node={nodes * procs}", "-m", "pst.cli", *args]
    return ["srun", f"--nodes={nodes}", "--ntasks-per-node=1", "--kill-on-bad-exit=1",
            *([f"--gres=gpu:{gpus}"] if gpus else []),
            *PST, "launch", "--agent", f"--nodes={nodes}", f"--procs={procs}", "--",
            *args]


def agent_command(nodes: int, procs: int, args: list[str]) -> list[str]:
    """What runs on each node of the allocation: torchrun meeting the others at the first node."""
    job = os.environ["SLURM_JOB_ID"]
    endpoint = f"{head_address(os.environ['SLURM_JOB_NODELIST'])}:{rdzv_port(job)}"
    timeout = int(os.environ.get("PST_RDZV_TIMEOUT", "300"))
    return [*TORCHRUN, f"--nnodes={nodes}", f"--nproc-per-node={procs}", "--rdzv-backend=c10d",
            f"--rdzv-endpoint={endpoint}", f"--rdzv-id={job}", f"--rdzv-conf=join_timeout={timeout}",
            "--max-restarts=0", "-m", "pst.cli", *args]


def launch(nodes: int, procs: int, args: list[str], agent: bool = False, gpus: int = 0) -> None:
    """Replace this process by the job's command (signals reach it directly)."""
    if agent and not in_slurm_allocation():
        raise ValueError("launch --agent: runs on a node of a SLURM allocation (srun starts it); use launch without "
                         "--agent here")
    cmd = agent_command(nodes, procs, args) if agent else command(nodes, procs, args, gpus=gpus)
    if agent:
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)      # inherited through exec: torchrun survives the warning
        print(f"pst launch: node {os.environ.get('SLURMD_NODENAME', '?')} ({os.environ.get('SLURM_NODEID', '?')} of "
              f"{nodes}): {' '.join(cmd)}", flush=True)
    else:
        print(f"pst launch: {nodes} node(s) x {procs} process(es): {' '.join(cmd)}", flush=True)
    os.execvp(cmd[0], cmd)
