"""Every path of the study, in one place (as showyourwork's paths.py): datasets, 2D inits, runs, evaluations,
FLOPs records, tables, figures, logs and the results page, per profile.

`pst data prepare`, `pst train/evaluate`, the report code, the Snakemake rules, `pst.study` and dvc.yaml's stages
take their paths from here, so no two places can disagree. Torch-free: the planner imports it.

    data/<profile data>/<dataset>/raw/              downloads or placed files (fetched.json when complete)
                                  processed/        the internal lists (train.txt, val.txt, classes.txt), videos/
                                  bad_videos.tsv    what `pst data validate` found
    data/<profile data>/pretrained/<timm name>.pt   2D ImageNet inits (pst.weights_2d names them)
    data/<profile data>/released/<name>.pth         the authors' released checkpoints, placed by the user
    results/<profile>/runs/<dataset>/<recipe>/<variant>/seed<seed>/   one run (final.safetensors, config, metrics,
                                                                      timing); eval_<C>x<K>/ inside it
                     .../seed<seed>.archived/<stamp>/                   a finished run moved aside (recipe changed)
    results/<profile>/records/<dataset>/<recipe>/<variant>/seed<seed>/   a run's small files, versioned in git
    results/<profile>/released/<name>/eval_<C>x<K>/  a released checkpoint evaluated on this copy of its dataset
    results/<profile>/tables/<table>.{md,csv,json}, figures/, metrics.json, README.md, logs/, benchmarks/
    results/flops/<model>_<frames>x<size>.json      FLOPs records, shared by every profile (a model's cost)
    results/flops.{md,csv,json}                     the FLOPs table
    results/memory/<model>_<frames>x<size>_b<batch>.json   training-memory accounts, shared likewise
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

RESULTS = "results"
FLOPS_DIR = f"{RESULTS}/flops"
FLOPS_TABLE = f"{RESULTS}/flops"          # + .md/.csv/.json
MEMORY_DIR = f"{RESULTS}/memory"
PROCESSED = "processed"                   # a fetched dataset's lists and videos, under its folder
LISTS = ("train.txt", "val.txt", "classes.txt")
SYNTH_RECORD = "synth.json"               # the synthetic set's record (its config, encoder, classes), at its top


def synthetic_set(root: str | Path) -> bool:
    """The embedded synthetic set (its record is there): its classes come in time-reversed twin pairs (class 2k+1
    is 2k played backwards), where a model blind to frame order shows as twin top-1 near 50."""
    return (Path(root) / SYNTH_RECORD).is_file()


PARAMS = "params.yaml"                      # THE experiment description, at the project's top
PLAN = "plan.json"                          # prepare's plan, under processed/
TABLES, STUDY_METRICS = "tables", "metrics.json"   # a profile's results folder: its tables, every table's metrics


def shard_file(index: int, count: int) -> str:
    """A scattered prepare's shard record, under processed/ (what failed or was noted, per video of the shard)."""
    return f"shards/{index}-of-{count}.tsv"


def processed_dir(dataset_dir: str | Path) -> Path:
    """Where `pst data prepare` writes a fetched dataset's lists and re-encoded videos."""
    return Path(dataset_dir) / PROCESSED


@dataclass(frozen=True)
class RunDir:
    """The files of one training run's folder, named here only: training writes them; evaluation, status,
    records, plots and the workflow read them."""

    path: Path

    def __init__(self, path: str | Path):
        object.__setattr__(self, "path", Path(path))

    CONFIG, ENV, SUMMARY, LOG = "config.yaml", "env.json", "train.json", "train.log"
    METRICS, METRICS_CSV, TIMING = "metrics.json", "metrics.csv", "timing.json"
    FINAL, LEGACY_FINAL, CHECKPOINTS = "final.safetensors", "final.pt", "checkpoints"
    MARKS = (CONFIG, LOG, CHECKPOINTS)                            # what every run folder holds from its first start
    RECORDED = (CONFIG, ENV, METRICS, METRICS_CSV, SUMMARY)        # its small files, versioned by a record
    CHECKPOINT_NAME = "ckpt_e{epoch:04d}_s{step:08d}.pt"           # under checkpoints/
    CHECKPOINT = re.compile(r"ckpt_e(\d+)_s(\d+)\.pt$")

    config = property(lambda self: self.path / self.CONFIG, doc="the resolved recipe it trained with")
    env = property(lambda self: self.path / self.ENV, doc="the environment, data fingerprint and threads")
    summary = property(lambda self: self.path / self.SUMMARY, doc="the finished run's summary")
    log = property(lambda self: self.path / self.LOG, doc="every attempt's start, resume, stop and epochs")
    metrics = property(lambda self: self.path / self.METRICS, doc="one row per epoch (also as CSV)")
    metrics_csv = property(lambda self: self.path / self.METRICS_CSV)
    timing = property(lambda self: self.path / self.TIMING, doc="per-epoch seconds, clips/s, peak memory: an "
                                                                "execution record, kept but not versioned")
    checkpoints = property(lambda self: self.path / self.CHECKPOINTS)
    final = property(lambda self: self.path / self.FINAL, doc="the final weights, written last: their existence "
                                                              "is what 'the run is done' means")
    legacy_final = property(lambda self: self.path / self.LEGACY_FINAL, doc="runs finished before safetensors "
                                                                            "(torch.save); adopted, never removed")

    @classmethod
    def list_checkpoints(cls, folder: str | Path) -> list[Path]:
        """The checkpoints in ``folder`` (a run's checkpoints/), oldest (epoch, step) first."""
        found = [p for p in Path(folder).glob("ckpt_e*_s*.pt") if cls.CHECKPOINT.search(p.name)]
        return sorted(found, key=lambda p: tuple(int(v) for v in cls.CHECKPOINT.search(p.name).groups()))


def final_weights(run_dir: str | Path) -> str:
    """A finished run's weights, as the workflow's rules name them (a string path)."""
    return f"{run_dir}/{RunDir.FINAL}"


def legacy_final_weights(run_dir: str | Path) -> str:
    return f"{run_dir}/{RunDir.LEGACY_FINAL}"


def timing_file(run_dir: str | Path) -> str:
    return f"{run_dir}/{RunDir.TIMING}"


def archive_dir(run_dir: str | Path, stamp: str) -> str:
    """Where a finished run goes, whole, when its folder is needed for another recipe (never deleted):
    ``<run>.archived/<UTC stamp>/`` beside it, so it stays with the profile's runs (and in the DVC cache)."""
    return f"{run_dir}.archived/{stamp}"


def eval_dir(run_dir: str | Path, views: str, list_name: str | None = None) -> str:
    """The folder of a run's evaluation at ``views``: on its own validation list (what a table reads), or on
    another list (``list_name``, its file stem), which gets a folder of its own."""
    return f"{run_dir}/eval_{views}" + (f"_{list_name}" if list_name else "")


EVAL, PREDICTIONS = "eval.json", "predictions.csv"   # an evaluation's record (written last) and per-video top-5
SCORES = "scores.npz"          # every view's class scores (logits): rescoring without a forward pass; not recorded
EVAL_FILES = (EVAL, PREDICTIONS)                       # what a run's record keeps of each evaluation


def eval_path(run_dir: str | Path, views: str) -> str:
    return f"{eval_dir(run_dir, views)}/{EVAL}"


def flops_record(model: str, frames, size) -> str:
    return f"{FLOPS_DIR}/{model}_{frames}x{size}.json"


def memory_record(model: str, frames, size, batch) -> str:
    """A model's training-memory account at one input and per-device batch (pst.report.memory), shared by every
    profile as the FLOPs records are."""
    return f"{MEMORY_DIR}/{model}_{frames}x{size}_b{batch}.json"


@dataclass(frozen=True)
class Layout:
    """The paths of one profile. ``data`` is the profile's data folder (``data`` unless the profile says)."""

    profile: str
    data: str = "data"

    # ---- data
    def dataset_dir(self, dataset: str) -> str:
        return f"{self.data}/{dataset}"

    def raw_dir(self, dataset: str) -> str:
        return f"{self.dataset_dir(dataset)}/raw"

    def fetched(self, dataset: str) -> str:
        return f"{self.raw_dir(dataset)}/fetched.json"

    def lists_root(self, dataset: str, source: str) -> str:
        """The folder a dataset's lists are in and their paths are relative to (a recipe's data.root)."""
        return self.dataset_dir(dataset) if source == "synth" else f"{self.dataset_dir(dataset)}/{PROCESSED}"

    def lists(self, dataset: str, source: str) -> list[str]:
        """train.txt, val.txt, classes.txt of a dataset, in that order."""
        return [f"{self.lists_root(dataset, source)}/{n}" for n in LISTS]

    def synth_summary(self, dataset: str) -> str:
        """What `pst data synth` records of a generated set (its config and encoder)."""
        return f"{self.dataset_dir(dataset)}/{SYNTH_RECORD}"

    def prepare_plan(self, dataset: str) -> str:
        return f"{self.dataset_dir(dataset)}/{PROCESSED}/{PLAN}"

    def prepare_shard(self, dataset: str, index, count) -> str:
        return f"{self.dataset_dir(dataset)}/{PROCESSED}/{shard_file(index, count)}"

    def validate_shard(self, dataset: str, split: str, index, count) -> str:
        """One shard's verdicts of a scattered validation (the bad videos of every count-th list entry)."""
        return f"{self.dataset_dir(dataset)}/validate/{split}-{index}-of-{count}.tsv"

    def bad_videos(self, dataset: str) -> str:
        return f"{self.dataset_dir(dataset)}/bad_videos.tsv"

    def pretrained(self, weights: str) -> str:
        """Where the 2D weights of timm name ``weights`` (e.g. deit_small_patch16_224.fb_in1k) are saved."""
        return f"{self.data}/pretrained/{weights}.pt"

    def released(self, name: str) -> str:
        """Where the user places an authors' released checkpoint (params.yaml released.NAME), as downloaded."""
        return f"{self.data}/released/{name}.pth"

    # ---- results of this profile
    @property
    def results(self) -> str:
        return f"{RESULTS}/{self.profile}"

    @staticmethod
    def run_name(dataset: str, recipe: str, variant: str, seed) -> str:
        """A run's name: its folder under runs/, and its logs' and benchmarks' names."""
        return f"{dataset}/{recipe}/{variant}/seed{seed}"

    def run_dir(self, dataset: str, recipe: str, variant: str, seed) -> str:
        return f"{self.results}/runs/{self.run_name(dataset, recipe, variant, seed)}"

    @property
    def records(self) -> str:
        """The profile's run records, versioned in git (a DVC output with cache: false)."""
        return f"{self.results}/records"

    def record_dir(self, dataset: str, recipe: str, variant: str, seed) -> str:
        """A run's record: its small files copied where git versions them (pst.report.records)."""
        return f"{self.records}/{self.run_name(dataset, recipe, variant, seed)}"

    def record(self, dataset: str, recipe: str, variant: str, seed) -> str:
        """A record's manifest, written last (what the workflow waits for)."""
        return f"{self.record_dir(dataset, recipe, variant, seed)}/record.json"

    def train_log(self, dataset: str, recipe: str, variant: str, seed) -> str:
        """The log of a run's training job (what `pst status` reads for a failed run's last error)."""
        return self.log("train/" + self.run_name(dataset, recipe, variant, seed))

    def released_eval(self, name: str, views: str) -> str:
        """The evaluation of a released checkpoint on this profile's copy of its dataset."""
        return f"{self.results}/released/{name}/eval_{views}/eval.json"

    RELEASED_TABLE = "released_weights"

    def table(self, name: str) -> str:
        """A table's path without suffix (.md, .csv and .json are written)."""
        return f"{self.results}/{TABLES}/{name}"

    def per_class(self, name: str) -> str:
        """A table's per-class results without suffix (.md, .csv, .json): beside the tables, not among them (they
        are read by the results page, not by `pst verify` or `pst compare`)."""
        return f"{self.results}/per_class/{name}"

    def curves(self, table: str) -> str:
        """A table's training curves as data, one CSV per row (epoch, loss and validation top-1, mean and range
        over seeds): what `dvc plots diff` overlays across revisions and `pst compare --curves` draws."""
        return f"{self.results}/curves/{table}"

    def curve(self, table: str, row: str) -> str:
        """One row's curves (a CSV) in its table's curves folder."""
        return f"{self.curves(table)}/{row}.csv"

    @property
    def figures(self) -> str:
        return f"{self.results}/figures"

    def figure(self, table: str, kind: str, ext: str) -> str:
        return f"{self.figures}/{table}_{kind}.{ext}"

    @property
    def metrics(self) -> str:
        """Every table's metrics in one file, for `dvc metrics show/diff`."""
        return f"{self.results}/{STUDY_METRICS}"

    @property
    def readme(self) -> str:
        return f"{self.results}/README.md"

    def log(self, name: str) -> str:
        return f"{self.results}/logs/{name}.log"

    def benchmark(self, name: str) -> str:
        return f"{self.results}/benchmarks/{name}.tsv"


def owner(path: str | Path, own: str | Path | None = None, study: bool = False) -> str | None:
    """The run or dataset folder a file at ``path`` would be written into (an ancestor of it), described; None
    when there is none or it is ``own`` (the command's own folder, as an evaluation's run). A report's output (a
    table, figure or page) never goes inside either: a run folder is one run's own, a dataset folder the data's (its
    lists and videos). With ``study``, a profile's results folder (its tables and metrics.json) counts too: what the
    study did not make (a comparison's figure) never goes among what it made."""
    own = Path(own).resolve() if own is not None else None
    for folder in Path(path).resolve().parents:
        if folder == own:
            return None
        if (folder / RunDir.CONFIG).is_file() and any((folder / m).exists() for m in
                                                       (RunDir.LOG, RunDir.CHECKPOINTS, RunDir.FINAL)):
            return f"inside the run {folder}"
        train, val, classes = (folder / name for name in LISTS)
        if classes.is_file() and (train.is_file() or val.is_file()):     # the synthetic set's too
            return f"inside the dataset {folder}"
        if study and (folder / TABLES).is_dir() and (folder / STUDY_METRICS).is_file():
            return f"inside the study results {folder}"
    return None
