"""The study plan: params.yaml + a profile -> the runs, their recipes and the tables that read them.

Snakemake (the Snakefile) and the tests both plan through here, so what runs and what a table expects cannot
drift apart. Pure Python, no torch: planning the whole paper study takes milliseconds.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

RUNS = "results/runs"


@dataclass(frozen=True)
class Run:
    dataset: str
    recipe: str
    variant: str
    seed: int

    @property
    def dir(self) -> str:
        return f"{RUNS}/{self.dataset}/{self.recipe}/{self.variant}/seed{self.seed}"


def eval_path(run_dir: str, views: str) -> str:
    """Where `pst evaluate RUN --views V` writes its record (what a table reads)."""
    return f"{run_dir}/eval_{views}/eval.json"


@dataclass(frozen=True)
class Table:
    name: str
    title: str
    paper_dataset: str    # the dataset the paper used (keys its published numbers)
    dataset: str          # the dataset this profile runs it on
    recipe: str
    views: tuple[str, ...]
    pretrain: str
    published: str | None
    rows: dict            # variant -> published row key ("{views}" filled per view)
    paper_input: tuple[int, int]


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


class Study:
    """One profile of params.yaml, resolved: which tables, on which data, with which recipes, views and seeds."""

    def __init__(self, config: dict, profile: str | None = None):
        self.config = config
        self.profile = profile or config["profile"]
        if self.profile not in config["profiles"]:
            raise ValueError(f"params.yaml profile: {self.profile!r} is not one of {sorted(config['profiles'])} "
                             "(set it in params.yaml or with --config profile=NAME)")
        self.settings = config["profiles"][self.profile]
        self.seeds = list(self.settings["seeds"])
        self._check()

    def _check(self) -> None:
        cfg, s = self.config, self.settings
        for name in s["tables"]:
            if name not in cfg["tables"]:
                raise ValueError(f"params.yaml profiles.{self.profile}.tables: unknown table {name!r}; "
                                 f"defined: {sorted(cfg['tables'])}")
            t = self.table(name)
            if t.dataset not in cfg["datasets"]:
                raise ValueError(f"params.yaml tables.{name}: dataset {t.dataset!r} is not under datasets:")
            if t.recipe not in cfg["recipes"]:
                raise ValueError(f"params.yaml tables.{name}: recipe {t.recipe!r} is not under recipes:")
            for v in t.rows:
                if v not in cfg["variants"]:
                    raise ValueError(f"params.yaml tables.{name}.rows: variant {v!r} is not under variants:")

    # ---- tables and runs
    def table(self, name: str) -> Table:
        raw = self.config["tables"][name]
        s = self.settings
        return Table(name=name, title=raw["title"], paper_dataset=raw["dataset"], dataset=s["map"].get(raw["dataset"], raw["dataset"]),
                     recipe=s["recipe"].get(raw["recipe"], raw["recipe"]),
                     views=tuple(dict.fromkeys(s["views"].get(v, v) for v in raw["views"])),
                     pretrain=raw["pretrain"] if self.pretrained else "none (from scratch)",
                     published=raw.get("published"), rows=dict(raw["rows"]), paper_input=tuple(raw["paper_input"]))

    @property
    def tables(self) -> list[Table]:
        return [self.table(n) for n in self.settings["tables"]]

    @property
    def pretrained(self) -> bool:
        return bool(self.settings.get("pretrained", True))

    def table_runs(self, table: Table) -> list[Run]:
        return [Run(table.dataset, table.recipe, v, seed) for v in table.rows for seed in self.seeds]

    @property
    def runs(self) -> list[Run]:
        return list(dict.fromkeys(r for t in self.tables for r in self.table_runs(t)))

    def table_evaluations(self, table: Table) -> list[str]:
        return [eval_path(r.dir, v) for r in self.table_runs(table) for v in table.views]

    def evaluations(self) -> list[str]:
        return [e for t in self.tables for e in self.table_evaluations(t)]

    def paper_flops(self, table: Table) -> list[str]:
        f, s = table.paper_input
        models = dict.fromkeys(self.config["variants"][v]["model"] for v in table.rows)
        return [f"results/flops/{m}_{f}x{s}.json" for m in models]

    # ---- one run
    def resources(self, recipe: str) -> dict:
        """threads, mem_mb, runtime (minutes) and gpu of a recipe's training job (params.yaml resources:)."""
        return {"threads": 1, "mem_mb": 4000, "runtime": 60, "gpu": 0, **self.config.get("resources", {}).get(recipe, {})}

    def recipe(self, run: Run) -> dict:
        """The engine recipe of one run: recipe <- variant's model and options <- data root, seed, 2D init."""
        cfg = self.config
        if run.variant not in cfg["variants"]:
            raise ValueError(f"run {run.dir}: variant {run.variant!r} is not under params.yaml variants:")
        variant = cfg["variants"][run.variant]
        out = _merge(cfg["recipes"][run.recipe], {
            "data": {"root": f"data/{run.dataset}"},
            "model": {"name": variant["model"], "kwargs": variant.get("kwargs", {})},
            "train": {"seed": run.seed}})
        if self.pretrained and variant.get("pretrained"):
            out["model"]["checkpoint_2d"] = self.pretrained_path(variant["pretrained"])
        return out

    def pretrained_path(self, key: str) -> str:
        return f"data/pretrained/{key}.pt"

    def run_inputs(self, run: Run) -> list[str]:
        """Files a run's training needs: the dataset's lists (and validation report), and its 2D init if any."""
        ds = self.config["datasets"][run.dataset]
        files = [f"data/{run.dataset}/{n}" for n in ("train.txt", "val.txt", "classes.txt")]
        if ds["source"] == "fetch":
            files.append(f"data/{run.dataset}/bad_videos.tsv")
        init = self.recipe(run)["model"].get("checkpoint_2d")
        return files + ([init] if init else [])

    def table_spec(self, table: Table) -> dict:
        """What `pst table study` needs to build one table (and to name the runs it is missing)."""
        variants = self.config["variants"]
        return {"name": table.name, "title": table.title, "published": table.published, "pretrain": table.pretrain,
                "paper_input": list(table.paper_input), "profile": self.profile,
                "paper_dataset": table.paper_dataset, "dataset": table.dataset,
                "rows": [{"variant": v, "model": variants[v]["model"], "views": view,
                          "published_row": None if key is None else str(key).replace("{views}", view),
                          "runs": [r.dir for r in self.table_runs(table) if r.variant == v]}
                         for v, key in table.rows.items() for view in table.views]}


def load(path: str | Path = "params.yaml", profile: str | None = None) -> Study:
    import yaml

    return Study(yaml.safe_load(Path(path).read_text()), profile)
