"""The study plan: params.yaml + a profile -> the runs, their recipes and the tables that read them.

Snakemake (the Snakefile) and the tests both plan through here, so what runs and what a table expects cannot
drift apart. Pure Python, no torch: planning the whole paper study takes milliseconds.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pst.engine.config import merge as _merge
from pst.engine.config import nested
from pst.io import first_repeat
from pst.layout import PARAMS, Layout, eval_path, flops_record, memory_record
from pst.provenance import code_fingerprint
from pst.report.published import missing_row
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
    baseline: str | None  # the row every other is paired with over seeds: the 2D one, or the profile's (baseline:)
    comparable: bool      # dataset, recipe, views and 2D init are the paper's: a Δ to its number means something
    memory: bool          # show the training-memory account at the paper's input and per-device batch
    cam: bool             # draw a GradCAM figure of its rows (the supplement's Figs. 2-3: one per dataset)
    paper_only: tuple[str, ...]   # published rows printed without ours (no model of ours defines them)
    left_out: tuple[str, ...] = ()  # the table's rows this profile does not run (rows:), named under the table


class Study:
    """One profile of params.yaml, resolved: which tables, on which data, with which recipes, views and seeds."""

    def __init__(self, config: dict, profile: str | None = None):
        self.config = config
        self.profile = profile or config["profile"]
        if self.profile not in config["profiles"]:
            raise ValueError(f"params.yaml profile: {self.profile!r} is not one of {sorted(config['profiles'])} "
                             "(a `pst` command's --profile NAME, Snakemake's --config profile=NAME, or params.yaml's "
                             "profile: key)")
        self.settings = config["profiles"][self.profile]
        self.seeds = list(self.settings["seeds"])
        data = self.settings.get("data", "data")
        if any(c.isspace() for c in str(data)):        # the rules' commands pass paths unquoted
            raise ValueError(f"params.yaml profiles.{self.profile}.data: {str(data)!r} holds a space; the workflow's "
                             "commands take paths without spaces: name another folder (a link to this one will do)")
        if Path(data).exists() and not Path(data).is_dir():
            raise ValueError(f"params.yaml profiles.{self.profile}.data: {data} is a file, not a folder; name the "
                             "profile's data folder (default data)")
        self.layout = Layout(self.profile, data)
        self._check()
        results = Path(self.layout.results).parent.resolve()
        for name in dict.fromkeys([t.dataset for t in self.tables] + ["pretrained", "released"]):
            where = Path(self.layout.dataset_dir(name)).resolve()      # what the data jobs write: never the results
            if where == results or results in where.parents or where in results.parents:
                raise ValueError(f"params.yaml profiles.{self.profile}.data: {data}/{name} would be written among "
                                 f"the study results ({results.name}/, which git compares); name a data folder of its "
                                 "own (default data)")

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
            if t.published is not None and (problem := missing_row(t.published, None)):
                raise ValueError(f"params.yaml tables.{name}.published: {problem}")
            for where, key in [*((f"rows.{v}", k) for v, k in t.rows.items()), *(("paper_only", k) for k in t.paper_only)]:
                if problem := missing_row(t.published, key):    # a name that finds no published number: refused
                    raise ValueError(f"params.yaml tables.{name}.{where}: {problem}")   # now, not printed n/a later
            baseline, rows = cfg["tables"][name].get("baseline"), cfg["tables"][name]["rows"]
            if baseline is not None and baseline not in rows:
                raise ValueError(f"params.yaml tables.{name}.baseline: {baseline!r} is not one of its rows "
                                 f"({', '.join(rows)})")
        for name, seeds in s.get("table_seeds", {}).items():
            if name not in s["tables"]:
                raise ValueError(f"params.yaml profiles.{self.profile}.table_seeds: {name!r} is not one of the "
                                 f"profile's tables ({', '.join(s['tables'])})")
            if not set(seeds) <= set(self.seeds):
                raise ValueError(f"params.yaml profiles.{self.profile}.table_seeds.{name}: seeds "
                                 f"{sorted(set(seeds) - set(self.seeds))} are not among the profile's seeds "
                                 f"{self.seeds}; a table takes a subset of them")
        for name, keep in s.get("rows", {}).items():
            if name not in cfg["tables"]:
                raise ValueError(f"params.yaml profiles.{self.profile}.rows: unknown table {name!r}")
            missing = [v for v in keep if v not in cfg["tables"][name]["rows"]]
            if missing:
                raise ValueError(f"params.yaml profiles.{self.profile}.rows.{name}: {missing} are not rows of the "
                                 f"table ({', '.join(cfg['tables'][name]['rows'])})")
        for name, base in s.get("baseline", {}).items():           # (as rows: of any table, run or not)
            if name not in cfg["tables"]:
                raise ValueError(f"params.yaml profiles.{self.profile}.baseline: unknown table {name!r}")
            if base not in self.table(name).rows:
                raise ValueError(f"params.yaml profiles.{self.profile}.baseline.{name}: {base!r} is not one of the "
                                 f"rows the profile runs ({', '.join(self.table(name).rows)})")
        for ds in s.get("datasets", {}):
            if ds not in cfg["datasets"]:
                raise ValueError(f"params.yaml profiles.{self.profile}.datasets: {ds!r} is not under datasets:")
        for ds in {t.dataset for t in map(self.table, s["tables"])}:
            if self.dataset(ds)["source"] == "synth":          # what `pst data synth` would refuse, refused now
                from pst.datasets.synthetic import SynthConfig

                try:
                    SynthConfig(**self.dataset(ds).get("synth", {}))
                except (TypeError, ValueError) as err:
                    raise ValueError(f"params.yaml datasets.{ds}.synth: {err}") from None
        for name in s.get("released", []):
            if name not in cfg.get("released", {}):
                raise ValueError(f"params.yaml profiles.{self.profile}.released: {name!r} is not under released: "
                                 f"({', '.join(cfg.get('released', {})) or 'none'})")
            r = cfg["released"][name]
            for key, known in (("dataset", cfg["datasets"]), ("recipe", cfg["recipes"]), ("variant", cfg["variants"])):
                if r[key] not in known:
                    raise ValueError(f"params.yaml released.{name}.{key}: {r[key]!r} is not under {key}s:")
        keys = {r.key for r in self.runs}
        for key in s.get("paper_input", []):
            if key not in keys:
                raise ValueError(f"params.yaml profiles.{self.profile}.paper_input: {key!r} is not a run of this "
                                 f"profile (dataset/recipe/variant); runs: {', '.join(sorted(keys))}")

    def check_recipes(self, cache: str | Path | None = None) -> None:
        """Refuse, before any job, what a job would refuse: every run's recipe through the trainer's own checks
        (keys, values, the model built on the meta device), its batch on the job's devices, its test views, and
        every released checkpoint's recipe through the evaluator's.

        ``cache``: a folder (Snakemake's .snakemake/) remembering plans that passed, keyed by every recipe, view
        and resource and by the code that checks them; an unchanged plan is not checked again (no torch import:
        a SLURM job re-reads the Snakefile)."""
        from pst.engine.config import resolve

        plan = []
        for table in self.tables:
            for run in self.table_runs(table):
                try:
                    cfg = resolve(self.recipe(run))
                    self._check_flips(run, cfg)          # reads the classes files: checked on every plan
                except ValueError as err:
                    raise ValueError(f"{self._where(run)}: {err}") from None
                nodes, procs = self.processes(run.recipe)
                plan.append((table, run, nodes * procs, cfg))
        released = []
        for name in self.released:
            try:
                released.append((name, self.released_views(name), resolve(self.released_recipe(name))))
            except ValueError as err:
                raise ValueError(f"params.yaml released.{name}: {err}") from None
        keyed = [(t.name, t.views, r.key, world, cfg) for t, r, world, cfg in plan]
        key = hashlib.sha256(json.dumps([keyed, released, code_fingerprint("models", "ops", "engine/config.py")],
                                        sort_keys=True, default=str).encode()).hexdigest()[:20]
        stamp = Path(cache) / "pst-checked" / key if cache else None
        if stamp is not None and stamp.exists():
            return
        self._check_plan(plan)
        self._check_released(released)
        if stamp is not None:
            stamp.parent.mkdir(parents=True, exist_ok=True)
            stamp.write_text(self.profile + "\n")

    @staticmethod
    def _check_released(released: list) -> None:
        """The released checkpoints' recipes pass the evaluator's own checks (views, model options), and their
        models can load the official layout."""
        from pst.engine.config import check_model, check_views
        from pst.models import PatchShiftSwin, family

        for name, views, cfg in released:
            try:
                check_views(cfg, views)
                check_model(cfg)
                if family(cfg["model"]["name"]) is not PatchShiftSwin:
                    raise ValueError(f"only PST/Swin checkpoints in the official layout can be loaded "
                                     f"(pst.models.swin_checkpoints.load_video_checkpoint); {cfg['model']['name']} is not one")
            except ValueError as err:
                raise ValueError(f"params.yaml released.{name}: {err}") from None

    def released_missing(self) -> list[str]:
        """One line per released checkpoint of this profile that the user has not placed yet: where, and what."""
        return [f"{self.layout.released(n)}: not placed; put {self.config['released'][n]['where']} there (as "
                f"downloaded) to evaluate it on this copy of {self.config['released'][n]['dataset']}"
                for n in self.released if not Path(self.layout.released(n)).is_file()]

    @property
    def released(self) -> list[str]:
        """The released checkpoints this profile evaluates (params.yaml released: named by the profile)."""
        return list(self.settings.get("released", []))

    def released_views(self, name: str) -> str:
        """A released checkpoint's test views on this profile (the profile's views map applies, as to tables)."""
        v = self.config["released"][name]["views"]
        return self.settings["views"].get(v, v)

    def released_recipe(self, name: str) -> dict:
        """The recipe a released checkpoint is evaluated with: its recipe and variant's model with its own options
        (e.g. the official bias), the profile's overrides, this profile's copy of its dataset; no 2D init (the
        weights come from the file)."""
        r = self.config["released"][name]
        run = Run(r["dataset"], r["recipe"], r["variant"], 0)
        out: dict = {}
        for where, partial, _ in self.recipe_layers(run, paper_input=f"{run.dataset}/{run.recipe}/{name}"):
            out = _merge(out, partial)
        out["model"]["kwargs"] = {**out["model"].get("kwargs", {}), **r.get("kwargs", {})}
        out["model"].pop("checkpoint_2d", None)
        return out

    def released_spec(self) -> dict:
        """What `pst table released` needs: each released checkpoint's evaluation, its published row, and the
        clips its dataset's annotations name but this copy lacks."""
        rows = []
        for name in self.released:
            r = self.config["released"][name]
            views = self.released_views(name)
            source = self.dataset(r["dataset"])["source"]
            rows.append({"name": name, "title": r["title"], "dataset": r["dataset"], "views": views,
                         "paper_views": r["views"], "published": r["published"],
                         "checkpoint": self.layout.released(name),
                         "placed": Path(self.layout.released(name)).is_file(),
                         "eval": self.layout.released_eval(name, views),
                         "missing": f"{self.layout.lists_root(r['dataset'], source)}/missing_val.txt"})
        return {"name": self.layout.RELEASED_TABLE, "profile": self.profile, "rows": rows,
                "comparable": not self.settings.get("overrides") and not self.settings.get("reduced_input")}

    def _where(self, run: Run) -> str:
        return (f"params.yaml run {run.key} (recipes.{run.recipe} + variants.{run.variant} + "
                f"profiles.{self.profile})")

    def _check_plan(self, plan: list) -> None:
        from pst.engine.config import accumulation, check_model, check_views

        checked: set[str] = set()
        for table, run, world, cfg in plan:
            try:
                accumulation(cfg, world)               # the global batch on every layout: nodes x processes
                self._check_synth_size(run, cfg)
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

    def _check_synth_size(self, run: Run, cfg: dict) -> None:
        """A synthetic set's training videos are known before it is made: at least one global batch of them."""
        if self.dataset(run.dataset)["source"] != "synth":
            return
        from pst.datasets.synthetic import SynthConfig

        synth = SynthConfig(**self.dataset(run.dataset).get("synth", {}))
        videos = len(synth.classes) * synth.train_per_class
        if cfg["train"]["global_batch"] > videos:
            raise ValueError(f"train.global_batch {cfg['train']['global_batch']} is more than the {videos} training "
                             f"videos of datasets.{run.dataset}.synth ({len(synth.classes)} classes x "
                             f"train_per_class {synth.train_per_class}); lower the batch or raise train_per_class")

    def class_list(self, dataset: str) -> tuple[list[str] | None, str, bool]:
        """A dataset's classes as planning knows them, and where from: its classes file once prepared (refused if
        it does not number the classes as the official lists do: a copy prepared by an older version), else the
        synthetic set's own names, else the catalog's left/right classes (all a flip rule may name: not complete)."""
        from pst.data.annotations import read_classes
        from pst.datasets.catalog import CATALOG, CLASS_ORDER

        ds = self.dataset(dataset)
        path = Path(self.layout.lists(dataset, ds["source"])[2])
        info = CATALOG.get(dataset) if ds["source"] == "fetch" else None
        if path.is_file():
            classes = read_classes(path)
            if info is not None and info.class_order == "sorted" and classes != sorted(classes):
                raise ValueError(f"{path}: the classes are not numbered as the official lists number them "
                                 f"({CLASS_ORDER['sorted']}); prepared by an older version? rerun `pst data prepare "
                                 f"{dataset}` (it renumbers the lists; nothing is decoded again)")
            return classes, str(path), True
        if ds["source"] == "synth":
            from pst.datasets.synthetic import SynthConfig

            return SynthConfig(**{k: v for k, v in ds["synth"].items() if k == "pairs"}).classes, f"the synthetic set {dataset}", True
        if info is not None:
            return list(info.left_right), dataset, False
        return None, dataset, False

    def _check_flips(self, run: Run, cfg: dict) -> None:
        """The recipe's flip rules name left/right classes of the run's dataset (pst.data.mirror)."""
        from pst.data.mirror import check_flip_rules, flip_names

        tr = cfg["data"]["train"]
        if not flip_names(tr["no_flip_classes"], tr["flip_pairs"]):
            return
        classes, source, complete = self.class_list(run.dataset)
        if classes is not None:
            check_flip_rules(tr["no_flip_classes"], tr["flip_pairs"], classes, source, complete)

    # ---- tables and runs
    def table(self, name: str) -> Table:
        raw = self.config["tables"][name]
        s = self.settings
        dataset = s["map"].get(raw["dataset"], raw["dataset"])
        recipe = s["recipe"].get(raw["recipe"], raw["recipe"])
        views = tuple(dict.fromkeys(s["views"].get(v, v) for v in raw["views"]))
        comparable = (dataset == raw["dataset"] and recipe == raw["recipe"] and views == tuple(raw["views"])
                      and self.pretrained and not s.get("overrides") and not s.get("reduced_input"))
        keep = s.get("rows", {}).get(name)             # a profile may run some of a table's rows,
        base = s.get("baseline", {}).get(name, raw.get("baseline"))     # and pair them with another than the 2D one
        rows = {v: k for v, k in raw["rows"].items() if keep is None or v in keep}
        return Table(name=name, title=raw["title"], paper_dataset=raw["dataset"], dataset=dataset, recipe=recipe,
                     views=views, pretrain=raw["pretrain"] if self.pretrained else "none (from scratch)",
                     published=raw.get("published"), rows=rows, paper_input=tuple(raw["paper_input"]),
                     seeds=tuple(s.get("table_seeds", {}).get(name, self.seeds)),
                     baseline=base if base in rows else None,
                     comparable=comparable, memory=bool(raw.get("memory")),
                     cam=bool(raw.get("cam")), paper_only=tuple(raw.get("paper_only", ())),
                     left_out=tuple(v for v in raw["rows"] if v not in rows))

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

    def unclaimed_runs(self, root: str | Path = ".") -> list[str]:
        """Run folders under this profile's runs/ (in the checkout at ``root``) that none of its tables names: a
        table dropped from the profile leaves its runs there (finished work is never deleted), inside the DVC output
        results/<profile>/runs, so the dvc.lock written beside them is not a fresh clone's."""
        named = {self.run_dir(r) for r in self.runs}
        runs = Path(root, self.layout.results, "runs")
        found = (str(d.relative_to(root)) for d in runs.glob("*/*/*/seed*") if d.is_dir() and d.name[4:].isdigit())
        return sorted(d for d in found if d not in named)

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
        from pst.data.annotations import FRAME_START, FRAME_TEMPLATE
        from pst.datasets.catalog import CATALOG

        ds = self.dataset(name)
        info = CATALOG.get(name) if ds["source"] == "fetch" else None
        modality = ds.get("modality", info.modality if info else "video")
        if modality == "video":
            return {"modality": "video"}
        return {"modality": modality,
                "frame_template": ds.get("frame_template", info.frame_template if info else FRAME_TEMPLATE),
                "frame_start": ds.get("frame_start", info.frame_start if info else FRAME_START)}

    def decoders(self, dataset: str) -> list[str]:
        """The decoders the profile's runs read ``dataset`` with (what its validation checks)."""
        from pst.engine.config import DEFAULTS

        found = {self.recipe(r)["data"].get("decoder", DEFAULTS["data"]["decoder"]) for r in self.runs
                 if r.dataset == dataset}
        return sorted(found) or [DEFAULTS["data"]["decoder"]]

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

    def recipe_layers(self, run: Run, paper_input: str | None = None) -> list[tuple[str, dict, dict]]:
        """What makes a run's recipe, in order, as (where, partial recipe, sources): the recipe (its ``sources``:
        where each value comes from), the variant's model and options, the profile's overrides and (unless the run
        is one the profile keeps at the paper's input, by its key or ``paper_input``) its reduced input, then what
        the study sets: the dataset's folder and how its lists are read, the seed, the 2D init. `pst recipe show`
        reads the same layers."""
        cfg, s = self.config, self.settings
        if run.variant not in cfg["variants"]:
            raise ValueError(f"run {self.run_dir(run)}: variant {run.variant!r} is not under params.yaml variants:")
        variant = cfg["variants"][run.variant]
        recipe = cfg["recipes"][run.recipe]
        layers = [(f"params.yaml recipes.{run.recipe}", {k: v for k, v in recipe.items() if k != "sources"},
                   recipe.get("sources", {})),
                  (f"params.yaml variants.{run.variant}",
                   {"model": {"name": variant["model"], "kwargs": variant.get("kwargs", {})}}, {})]
        if s.get("overrides"):
            layers.append((f"params.yaml profiles.{self.profile}.overrides", nested(s["overrides"] or {}), {}))
        if s.get("reduced_input") and (paper_input or run.key) not in s.get("paper_input", []):
            layers.append((f"params.yaml profiles.{self.profile}.reduced_input", nested(s["reduced_input"] or {}), {}))
        frames = self.frames(run.dataset)
        source = self.dataset(run.dataset)["source"]
        root = self.layout.lists_root(run.dataset, source)
        study = {"data": {"root": root, **(frames if frames["modality"] != "video" else {})},   # videos: the defaults
                 "train": {"seed": run.seed, "threads": self.resources(run.recipe)["threads"]}}
        if source == "fetch":               # validated: what it could not trust is left out (relative to the root)
            study["data"]["bad_videos"] = os.path.relpath(self.layout.bad_videos(run.dataset), root)
        if self.pretrained and variant.get("pretrained"):
            study["model"] = {"checkpoint_2d": self.layout.pretrained(weights_2d(variant["model"]))}
        layers.append(("the study", study, {
            "data.root": f"the study: {run.dataset}'s lists (pst.layout)",
            "data.modality": f"the catalog: how {run.dataset}'s lists are read",
            "data.frame_template": f"the catalog or params.yaml datasets.{run.dataset}",
            "data.frame_start": f"the catalog or params.yaml datasets.{run.dataset}",
            "data.bad_videos": f"the study: `pst data validate`'s verdicts on {run.dataset} (pst.layout)",
            "train.seed": f"the study: profiles.{self.profile}.seeds",
            "train.threads": f"the study: resources of {run.recipe}'s jobs (threads), so a hand-run of the recipe "
                             "gets the study's bits",
            "model.checkpoint_2d": f"paper: the 2D ImageNet init of {variant['model']} (pst/weights_2d.py)"}))
        return layers

    def explain(self, name: str) -> list[tuple[str, object, str]]:
        """(key, value, source) of every resolved key of a recipe (``name``: a recipe of params.yaml) or of a run's
        recipe on this profile (``dataset/recipe/variant``), from the layers planning and training use."""
        from pst.engine.config import explain

        if name in self.config["recipes"]:
            recipe = self.config["recipes"][name]
            return explain([(f"params.yaml recipes.{name}", {k: v for k, v in recipe.items() if k != "sources"},
                             recipe.get("sources", {}))])
        runs = [r for r in self.runs if r.key == name]
        if not runs:
            raise ValueError(f"{name!r} is neither a recipe of params.yaml ({', '.join(self.config['recipes'])}) "
                             f"nor a run of profile {self.profile} (dataset/recipe/variant, e.g. "
                             f"{self.runs[0].key if self.runs else 'kinetics400/pst_k400/pst_t'})")
        return explain(self.recipe_layers(runs[0]))

    def recipe(self, run: Run) -> dict:
        """The engine recipe of one run: its layers (recipe_layers) merged in order."""
        out: dict = {}
        for _, partial, _ in self.recipe_layers(run):
            out = _merge(out, partial)
        return out

    def data_inputs(self, dataset: str) -> list[str]:
        """Files whatever reads a dataset needs: its lists, and (a fetched copy) what validation left out, which
        its recipes name as data.bad_videos."""
        source = self.dataset(dataset)["source"]
        return self.layout.lists(dataset, source) + ([self.layout.bad_videos(dataset)] if source == "fetch" else [])

    def run_inputs(self, run: Run) -> list[str]:
        """Files a run's training needs: its dataset's (data_inputs), and its 2D init if any."""
        init = self.recipe(run)["model"].get("checkpoint_2d")
        return self.data_inputs(run.dataset) + ([init] if init else [])

    def table_spec(self, table: Table) -> dict:
        """What `pst table study` needs to build one table (and to name the runs it is missing)."""
        variants = self.config["variants"]
        return {"name": table.name, "title": table.title, "published": table.published, "pretrain": table.pretrain,
                "paper_input": list(table.paper_input), "profile": self.profile,
                "paper_dataset": table.paper_dataset, "dataset": table.dataset, "baseline": table.baseline,
                "comparable": table.comparable, "seeds": list(table.seeds), "memory": table.memory,
                "paper_only": list(table.paper_only),
                **({"left_out": list(table.left_out)} if table.left_out else {}),
                "rows": [{"variant": v, "model": variants[v]["model"], "views": view,
                          "published_row": _published_at(table.published, key, view),
                          "runs": [self.run_dir(r) for r in self.table_runs(table) if r.variant == v]}
                         for v, key in table.rows.items() for view in table.views]}


_TEXT, _NAME = {"type": "string"}, {"type": "string", "minLength": 1}
_MAYBE = {"type": ["string", "null"]}
# The shapes of the specs the workflow hands its table jobs (Study.table_spec, Study.released_spec): what `pst table`
# and `pst plot` check a --spec against before reading anything it names.
TABLE_SPEC = {                                          # (a key it does not know: a typo, refused, not ignored)
    "type": "object", "required": ["name", "title", "published", "pretrain", "paper_input", "profile", "seeds", "rows"],
    "additionalProperties": False, "properties": {
        "name": _NAME, "title": _TEXT, "published": _MAYBE, "pretrain": _TEXT, "profile": _NAME,
        "paper_input": {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 2, "maxItems": 2},
        "paper_dataset": _MAYBE, "dataset": _MAYBE, "baseline": _MAYBE, "comparable": {"type": "boolean"},
        "seeds": {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"type": "integer", "minimum": 0}},
        "memory": {"type": "boolean"}, "paper_only": {"type": "array", "items": _NAME},
        "left_out": {"type": "array", "items": _NAME},
        "rows": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["variant", "model", "views", "published_row", "runs"],
            "additionalProperties": False, "properties": {"variant": _NAME, "model": _NAME, "published_row": _MAYBE,
                           "views": {"type": "string", "pattern": "^[13]x[1-9][0-9]*$"},
                           "runs": {"type": "array", "minItems": 1, "uniqueItems": True, "items": _NAME}}}}}}
RELEASED_SPEC = {
    "type": "object", "required": ["name", "profile", "rows", "comparable"],
    "properties": {
        "name": _NAME, "profile": _NAME, "comparable": {"type": "boolean"},
        "rows": {"type": "array", "items": {
            "type": "object", "required": ["name", "title", "dataset", "views", "paper_views", "published",
                                           "checkpoint", "placed", "eval", "missing"],
            "properties": {"name": _NAME, "title": _TEXT, "dataset": _NAME, "views": _NAME, "paper_views": _NAME,
                           "published": _NAME, "checkpoint": _NAME, "placed": {"type": "boolean"},
                           "eval": _NAME, "missing": _NAME}}}}}


def check_spec(spec, schema: dict, what: str) -> dict:
    """A table job's spec against its shape (one line naming the first wrong key), and for a study table: its
    baseline among its rows, one run per seed in each row, its published table one that pst knows."""
    import jsonschema

    error = jsonschema.exceptions.best_match(jsonschema.Draft7Validator(schema).iter_errors(spec))
    problem = None
    if error is not None:
        where = "/".join(map(str, error.absolute_path)) or "(top level)"
        problem = f"{where}: {error.message[:200]}"
    elif schema is TABLE_SPEC:
        from pst.report.published import missing_row, published

        variants = [r["variant"] for r in spec["rows"]]
        twice = first_repeat((r["variant"], r["views"]) for r in spec["rows"])
        uneven = next((r for r in spec["rows"] if len(r["runs"]) != len(spec["seeds"])), None)
        if twice is not None:
            problem = f"row {twice[0]} at {twice[1]} twice"
        elif spec.get("baseline") is not None and spec["baseline"] not in variants:
            problem = f"baseline {spec['baseline']!r} is none of the rows' variants ({', '.join(variants)})"
        elif uneven is not None:
            problem = (f"row {uneven['variant']} has {len(uneven['runs'])} runs for {len(spec['seeds'])} seeds "
                       f"{spec['seeds']}")
        elif spec["published"] is not None and spec["published"] not in published():
            problem = f"published {spec['published']!r} is no table of pst/report/published.yaml"
        else:
            problem = next((f"row {r['variant']}: {missing}" for r in spec["rows"] if (missing := missing_row(
                spec["published"], r["published_row"]))), None) or next((f"paper_only: {missing}" for k in spec.get(
                "paper_only", []) if (missing := missing_row(spec["published"], k))), None)
    if problem:
        raise ValueError(f"--spec: {what}: {problem}; use the spec the workflow writes (snakemake -n -p shows it; "
                         "pst.study.Study.table_spec)")
    return spec


def _published_at(table: str | None, key: str | None, views: str) -> str | None:
    """A row's published key at ``views`` (params.yaml's "{views}" filled in); None where the paper published no
    number at those views (printed n/a), so a table spec names only rows that exist."""
    at = None if key is None else str(key).replace("{views}", views)
    return None if at is None or missing_row(table, at) else at


def read_spec(text: str | None, released: bool = False) -> dict:
    """A table job's --spec (inline JSON or a file, as the workflow writes it: Study.table_spec or released_spec),
    checked against its shape."""
    from pst.engine.config import load_recipe

    what = "the released checkpoints' spec" if released else "a table's spec"
    if not text:
        raise ValueError(f"--spec ({what}, as the workflow writes it) is required")
    if text.lstrip()[:1] not in ("{", "[") and not Path(text).is_file():      # inline JSON, or a file
        from pst.io import absent

        raise ValueError(f"--spec {text}: {absent(text)}; give {what} as the workflow writes it (a JSON file or "
                         "inline JSON)")
    return check_spec(load_recipe(text, "--spec"), RELEASED_SPEC if released else TABLE_SPEC, what)


@contextmanager
def planning():
    """The workflow's planning checks (Snakefile, common.smk) and its onstart step: a refusal is one line and exit
    2, as the commands' are, not Snakemake's frames around it; PST_DEBUG=1 shows the traceback."""
    from pst.io import FolderInUseError

    try:
        yield
    except (ValueError, FileNotFoundError, FolderInUseError) as err:
        if os.environ.get("PST_DEBUG", "") not in ("", "0"):
            raise
        print(f"pst workflow: error: {err}", file=sys.stderr)
        sys.exit(2)


def read_params(path: str | Path = PARAMS) -> dict:
    """params.yaml, or one line naming its line and column when it is not YAML."""
    import yaml

    from pst.io import load_yaml, read_utf8

    text = read_utf8(path, "params file")
    try:
        return load_yaml(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ValueError(f"{where}: not valid YAML ({getattr(err, 'problem', None) or err}); fix that line") from None


def check_params(config: dict, schema: str | Path, path: str = PARAMS) -> None:
    """The params against the workflow's schema, refused in one line naming the key (jsonschema's most relevant
    error) instead of the whole config."""
    import jsonschema
    import yaml

    if isinstance(config, dict) and "profile" in config and config["profile"] in (None, ""):     # `--config profile=`
        raise ValueError(f"{path} profile: an empty name (Snakemake's --config profile=NAME, or params.yaml's "
                         f"profile: key); name one of {sorted(config.get('profiles') or {})}")
    spec = yaml.safe_load(Path(schema).read_text())      # checked by the draft it declares, as snakemake does:
    errors = list(jsonschema.validators.validator_for(spec)(spec).iter_errors(config))   # $ref beside type counts
    error = jsonschema.exceptions.best_match(errors)
    if error is not None:               # with its siblings: a typo is a missing key and an unexpected one
        said = [e.message for e in errors if e.absolute_path == error.absolute_path]
        key = ".".join(map(str, error.absolute_path)) or "(top level)"
        raise ValueError(f"{path} {key}: {'; '.join(said)[:300]} (the schema: {schema})")


SCHEMA = "workflow/schemas/params.schema.yaml"


def load(path: str | Path = PARAMS, profile: str | None = None) -> Study:
    """The study of a params file, checked as the workflow checks it (one line naming the key) before it is read."""
    if profile is not None and not profile.strip():
        raise ValueError("--profile: an empty name; name a profile of params.yaml, or leave it out for its default")
    path = Path(path)
    config = read_params(path)
    if not isinstance(config, dict):
        raise ValueError(f"{path}: not a mapping of sections (profiles:, datasets:, variants:, recipes:, ...)")
    schema = next((f for f in (path.parent / SCHEMA, Path(__file__).parents[1] / SCHEMA) if f.is_file()), None)
    if schema is not None:
        check_params(config, schema, str(path))
    return Study(config, profile)


def profile_of(params: str | Path, profile: str | None) -> str:
    """The profile a command is about: ``profile`` (--profile), else the params file's ``profile:`` (its one owner)."""
    if profile is None and not Path(params).is_file():
        raise ValueError(f"{params}: no such file, so no default profile; run from the repository's top folder, or "
                         "name --profile")
    return profile if profile is not None else load(params).profile


def first_table(params: str | Path, profile: str) -> str:
    """A profile's first table (what `pst compare` compares when no table is named)."""
    return load(params, profile).tables[0].name
