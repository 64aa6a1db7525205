"""The study plan: params.yaml + a profile -> the runs, their recipes and the tables that read them.

Snakemake (the Snakefile) and the tests both plan through here, so what runs and what a table expects cannot
drift apart. Pure Python, no torch: planning the whole paper study takes milliseconds.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from pst.engine.config import merge as _merge, set_dotted
from pst.layout import Layout, eval_path, flops_record, memory_record
from pst.provenance import code_fingerprint
from pst.weights_2d import weights_2d


@dataclass(frozen=True)
class Run:
    dataset: str
    recipe: str
    variant: str
    seed: int

    @property
    def key(self) -> str:
        """dataset/recipe/variant: how params.yaml names a run (profiles.NAME.paper_input)."""
        return f"{self.dataset}/{self.recipe}/{self.variant}"


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
    seeds: tuple[int, ...]  # the profile's seeds, or those it gives this table (table_seeds)
    baseline: str | None  # the 2D row every temporal row is compared with (paired over seeds)
    comparable: bool      # dataset, recipe, views and 2D init are the paper's: a Δ to its number means something
    memory: bool          # show the training-memory account at the paper's input and per-device batch
    paper_only: tuple[str, ...]   # published rows printed without ours (no model of ours defines them)


def _dotted(over: dict) -> dict:
    """{"train.global_batch": 2} -> {"train": {"global_batch": 2}} (a profile's overrides, one line each)."""
    out: dict = {}
    for key, value in (over or {}).items():
        set_dotted(out, str(key), value)
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
        self.layout = Layout(self.profile, self.settings.get("data", "data"))
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
            if t.baseline is not None and t.baseline not in t.rows:
                raise ValueError(f"params.yaml tables.{name}.baseline: {t.baseline!r} is not one of its rows "
                                 f"({', '.join(t.rows)})")
        for name in s.get("table_seeds", {}):
            if name not in s["tables"]:
                raise ValueError(f"params.yaml profiles.{self.profile}.table_seeds: {name!r} is not one of the "
                                 f"profile's tables ({', '.join(s['tables'])})")
        for name, keep in s.get("rows", {}).items():
            if name not in cfg["tables"]:
                raise ValueError(f"params.yaml profiles.{self.profile}.rows: unknown table {name!r}")
            missing = [v for v in keep if v not in cfg["tables"][name]["rows"]]
            if missing:
                raise ValueError(f"params.yaml profiles.{self.profile}.rows.{name}: {missing} are not rows of the "
                                 f"table ({', '.join(cfg['tables'][name]['rows'])})")
        for ds in s.get("datasets", {}):
            if ds not in cfg["datasets"]:
                raise ValueError(f"params.yaml profiles.{self.profile}.datasets: {ds!r} is not under datasets:")
        keys = {r.key for r in self.runs}
        for key in s.get("paper_input", []):
            if key not in keys:
                raise ValueError(f"params.yaml profiles.{self.profile}.paper_input: {key!r} is not a run of this "
                                 f"profile (dataset/recipe/variant); runs: {', '.join(sorted(keys))}")

    def check_recipes(self, cache: str | Path | None = None) -> None:
        """Refuse, before any job, what a job would refuse: every run's recipe through the trainer's own checks
        (keys, values, the model built on the meta device), its batch on the job's devices, its test views.

        ``cache``: a folder (Snakemake's .snakemake/) remembering plans that passed, keyed by every recipe, view
        and resource and by the code that checks them; an unchanged plan is not checked again (no torch import)."""
        from pst.engine.config import resolve

        plan = []
        for table in self.tables:
            for run in self.table_runs(table):
                try:
                    cfg = resolve(self.recipe(run))
                except ValueError as err:
                    raise ValueError(f"{self._where(run)}: {err}") from None
                nodes, procs = self.processes(run.recipe)
                plan.append((table, run, nodes * procs, cfg))
        keyed = [(t.name, t.views, r.key, world, cfg) for t, r, world, cfg in plan]
        key = hashlib.sha256(json.dumps([keyed, code_fingerprint("models", "ops", "engine/config.py")],
                                        sort_keys=True, default=str).encode()).hexdigest()[:20]
        stamp = Path(cache) / "pst-checked" / key if cache else None
        if stamp is not None and stamp.exists():
            return
        self._check_plan(plan)
        if stamp is not None:
            stamp.parent.mkdir(parents=True, exist_ok=True)
            stamp.write_text(self.profile + "\n")

    def _where(self, run: Run) -> str:
        return (f"params.yaml run {run.key} (recipes.{run.recipe} + variants.{run.variant} + "
                f"profiles.{self.profile})")

    def _check_plan(self, plan: list) -> None:
        from pst.engine.config import accumulation, check_model, check_views

        checked: set[str] = set()
        for table, run, world, cfg in plan:
            try:
                accumulation(cfg, world)               # the global batch on every layout: nodes x processes
                for v in table.views:
                    try:
                        check_views(cfg, v)
                    except ValueError as err:
                        raise ValueError(f"tables.{table.name}.views: {err}") from None
                model = repr((cfg["model"], cfg["data"]["sampling"]["clip_len"], cfg["data"]["train"]["size"]))
                if model not in checked:
                    check_model(cfg)
                    checked.add(model)
            except ValueError as err:
                raise ValueError(f"{self._where(run)}: {err}") from None

    # ---- tables and runs
    def table(self, name: str) -> Table:
        raw = self.config["tables"][name]
        s = self.settings
        dataset = s["map"].get(raw["dataset"], raw["dataset"])
        recipe = s["recipe"].get(raw["recipe"], raw["recipe"])
        views = tuple(dict.fromkeys(s["views"].get(v, v) for v in raw["views"]))
        comparable = (dataset == raw["dataset"] and recipe == raw["recipe"] and views == tuple(raw["views"])
                      and self.pretrained and not s.get("overrides") and not s.get("reduced_input"))
        keep = s.get("rows", {}).get(name)             # a profile may run some of a table's rows
        rows = {v: k for v, k in raw["rows"].items() if keep is None or v in keep}
        return Table(name=name, title=raw["title"], paper_dataset=raw["dataset"], dataset=dataset, recipe=recipe,
                     views=views, pretrain=raw["pretrain"] if self.pretrained else "none (from scratch)",
                     published=raw.get("published"), rows=rows, paper_input=tuple(raw["paper_input"]),
                     seeds=tuple(s.get("table_seeds", {}).get(name, self.seeds)), baseline=raw.get("baseline"), comparable=comparable, memory=bool(raw.get("memory")),
                     paper_only=tuple(raw.get("paper_only", ())))

    @property
    def tables(self) -> list[Table]:
        return [self.table(n) for n in self.settings["tables"]]

    @property
    def pretrained(self) -> bool:
        return bool(self.settings.get("pretrained", True))

    def table_runs(self, table: Table) -> list[Run]:
        return [Run(table.dataset, table.recipe, v, seed) for v in table.rows for seed in table.seeds]

    @property
    def runs(self) -> list[Run]:
        return list(dict.fromkeys(r for t in self.tables for r in self.table_runs(t)))

    def run_views(self, run: Run) -> list[str]:
        """The test views of every table of the profile that reads ``run``."""
        return list(dict.fromkeys(v for t in self.tables if run in self.table_runs(t) for v in t.views))

    def records(self) -> list[str]:
        """Every run's record manifest (its small files, versioned in git)."""
        return [self.layout.record(r.dataset, r.recipe, r.variant, r.seed) for r in self.runs]

    def table_evaluations(self, table: Table) -> list[str]:
        return [eval_path(self.run_dir(r), v) for r in self.table_runs(table) for v in table.views]

    def evaluations(self) -> list[str]:
        return [e for t in self.tables for e in self.table_evaluations(t)]

    def paper_flops(self, table: Table) -> list[str]:
        f, s = table.paper_input
        models = dict.fromkeys(self.config["variants"][v]["model"] for v in table.rows)
        return [flops_record(m, f, s) for m in models]

    def paper_memory(self, table: Table) -> list[str]:
        """The training-memory accounts a table shows: each model at the paper's input and per-device batch (the
        table's own recipe as params.yaml gives it, whatever this profile runs)."""
        if not table.memory:
            return []
        from pst.engine.config import DEFAULTS

        recipe = self.config["tables"][table.name]["recipe"]
        batch = self.config["recipes"][recipe].get("train", {}).get("batch_per_device",
                                                                    DEFAULTS["train"]["batch_per_device"])
        f, s = table.paper_input
        models = dict.fromkeys(self.config["variants"][v]["model"] for v in table.rows)
        return [memory_record(m, f, s, batch) for m in models]

    # ---- one run
    def run_dir(self, run: Run) -> str:
        return self.layout.run_dir(run.dataset, run.recipe, run.variant, run.seed)

    def dataset(self, name: str) -> dict:
        """A dataset's settings on this profile: params.yaml datasets: <- profiles.NAME.datasets:."""
        return _merge(self.config["datasets"][name], self.settings.get("datasets", {}).get(name, {}))

    def frames(self, name: str) -> dict:
        """How a dataset's lists are read (recipe data keys): its modality, and for frame folders the file
        template and start index (the catalog's, e.g. SSv1's 00001.jpg, unless params.yaml's dataset sets them,
        e.g. ``frame_template: img_{:05d}.jpg`` for folders extracted by mmaction2's tools)."""
        from pst.data.catalog import CATALOG

        ds = self.dataset(name)
        info = CATALOG.get(name) if ds["source"] == "fetch" else None
        modality = ds.get("modality", info.modality if info else "video")
        if modality == "video":
            return {"modality": "video"}
        return {"modality": modality, "frame_template": ds.get("frame_template", info.frame_template if info else
                                                               "{:05d}.jpg"),
                "frame_start": ds.get("frame_start", info.frame_start if info else 1)}

    def resources(self, recipe: str) -> dict:
        """threads, mem_mb, runtime (minutes), nodes and gpu (per node) of a recipe's jobs (params.yaml resources:,
        then the profile's resources: for every recipe)."""
        return {"threads": 1, "mem_mb": 4000, "runtime": 60, "gpu": 0, "nodes": 1,
                **self.config.get("resources", {}).get(recipe, {}), **self.settings.get("resources", {})}

    def processes(self, recipe: str) -> tuple[int, int]:
        """(nodes, training processes per node) of a recipe's training job: one per GPU, one on a CPU node."""
        r = self.resources(recipe)
        return r["nodes"], max(1, r["gpu"])

    def multi_node(self) -> list[str]:
        """The recipes whose training spans several nodes (the workflow's train_nodes rule runs them)."""
        return [r for r in self.config["recipes"] if self.resources(r)["nodes"] > 1]

    def _overrides(self, run: Run) -> dict:
        """What this profile changes in a run's recipe: its overrides, and its reduced input unless the run is
        one the profile keeps at the paper's input."""
        s = self.settings
        out = _dotted(s.get("overrides", {}))
        if run.key not in s.get("paper_input", []):
            out = _merge(out, _dotted(s.get("reduced_input", {})))
        return out

    def recipe(self, run: Run) -> dict:
        """The engine recipe of one run: recipe <- variant's model and options <- the profile's overrides <- data
        root, seed, 2D init."""
        cfg = self.config
        if run.variant not in cfg["variants"]:
            raise ValueError(f"run {self.run_dir(run)}: variant {run.variant!r} is not under params.yaml variants:")
        variant = cfg["variants"][run.variant]
        out = _merge(cfg["recipes"][run.recipe], {
            "model": {"name": variant["model"], "kwargs": variant.get("kwargs", {})}})
        out = _merge(out, self._overrides(run))
        frames = self.frames(run.dataset)
        data = {"root": self.layout.lists_root(run.dataset, self.dataset(run.dataset)["source"]),
                **(frames if frames["modality"] != "video" else {})}     # videos: the defaults (no new params)
        out = _merge(out, {"data": data, "train": {"seed": run.seed}})
        if self.pretrained and variant.get("pretrained"):
            out["model"]["checkpoint_2d"] = self.layout.pretrained(weights_2d(variant["model"]))
        return out

    def run_inputs(self, run: Run) -> list[str]:
        """Files a run's training needs: the dataset's lists (and validation report), and its 2D init if any."""
        source = self.dataset(run.dataset)["source"]
        files = self.layout.lists(run.dataset, source)
        if source == "fetch":
            files.append(self.layout.bad_videos(run.dataset))
        init = self.recipe(run)["model"].get("checkpoint_2d")
        return files + ([init] if init else [])

    def table_spec(self, table: Table) -> dict:
        """What `pst table study` needs to build one table (and to name the runs it is missing)."""
        variants = self.config["variants"]
        return {"name": table.name, "title": table.title, "published": table.published, "pretrain": table.pretrain,
                "paper_input": list(table.paper_input), "profile": self.profile,
                "paper_dataset": table.paper_dataset, "dataset": table.dataset, "baseline": table.baseline,
                "comparable": table.comparable, "seeds": list(table.seeds), "memory": table.memory,
                "paper_only": list(table.paper_only),
                "rows": [{"variant": v, "model": variants[v]["model"], "views": view,
                          "published_row": None if key is None else str(key).replace("{views}", view),
                          "runs": [self.run_dir(r) for r in self.table_runs(table) if r.variant == v]}
                         for v, key in table.rows.items() for view in table.views]}


def load(path: str | Path = "params.yaml", profile: str | None = None) -> Study:
    import yaml

    return Study(yaml.safe_load(Path(path).read_text()), profile)
