"""Every recipe field traced to its source: `pst recipe show` resolves a recipe (or a run's recipe) through the same
layers planning and training use and names where each value comes from; every value a params.yaml recipe sets cites
its source; the README's table of paper/code differences is the one these sources generate."""
import re
import subprocess

import yaml

from conftest import ROOT
from pst.engine.config import DEFAULTS, differences_markdown, keys, resolve
from pst.engine.run import identity
from pst.study import Study

PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())


def test_every_value_of_every_recipe_has_a_source():
    assert set(keys()) >= {"data.train.randaugment.policy", "data.train.no_flip_classes", "optim.groups"}
    for dotted, key in keys().items():      # each names its kind: the paper, the official code, or our choice
        assert re.match(r"(ours|official|paper|supplement|mmcv 1\.x|params\.yaml)\b", key.source), (dotted, key)
    study = Study(PARAMS, "paper")
    for name in PARAMS["recipes"]:
        rows = study.explain(name)
        assert len(rows) >= len(keys()) - 1
        unsourced = [r for r in rows if "no source given" in r[2]]
        assert not unsourced, (name, unsourced)
        for cited in PARAMS["recipes"][name].get("sources", {}):              # a source names a key that exists
            assert any(k == cited or k.startswith(cited + ".") for k, _, _ in rows), (name, cited)


def test_show_resolves_a_run_as_planning_does_and_names_the_layer_of_each_value(env_with_venv):
    study = Study(PARAMS, "rehearsal")
    run = next(r for r in study.runs if r.key == "sthv2/pst_sthv1/pst_t")
    rows = {k: (v, s) for k, v, s in study.explain(run.key)}
    cfg = resolve(study.recipe(run))
    for dotted in keys():
        if dotted != "model.kwargs":
            node = cfg
            for part in dotted.split("."):
                node = node[part]
            assert rows[dotted][0] == node, dotted                            # the same values a job trains with
    assert rows["train.global_batch"] == (2, "params.yaml profiles.rehearsal.overrides")
    assert rows["data.train.size"][1] == "params.yaml profiles.rehearsal.reduced_input"
    assert rows["train.label_smoothing"] == (0.1, "official sthv1/sthv2 configs: LabelSmoothing(smoothing=0.1)")
    assert rows["model.kwargs.bias"][0] == "paper" and rows["model.kwargs.bias"][1].startswith("pst_t's default")
    assert rows["optim.lr"] == (DEFAULTS["optim"]["lr"], keys()["optim.lr"].source)
    assert rows["train.threads"][0] == study.resources("pst_sthv1")["threads"] and "resources" in rows["train.threads"][1]
    out = subprocess.run(["pst", "recipe", "show", run.key, "--profile", "rehearsal"], capture_output=True,
                         text=True, env=env_with_venv, cwd=ROOT)
    assert out.returncode == 0 and 'model.kwargs.pattern = "C"  # params.yaml variants.pst_t' in out.stdout
    bad = subprocess.run(["pst", "recipe", "show", "pst_sthv2"], capture_output=True, text=True, env=env_with_venv,
                         cwd=ROOT)
    assert bad.returncode == 2 and "'pst_sthv2' is neither a recipe of params.yaml" in bad.stderr


def test_sources_are_documentation_not_identity():
    study = Study(PARAMS, "paper")
    run = next(r for r in study.runs if r.recipe == "pst_sthv1")
    assert "sources" not in study.recipe(run) and "sources" not in identity(study.recipe(run))
    assert resolve({**PARAMS["recipes"]["pst_sthv1"]}) == resolve(
        {k: v for k, v in PARAMS["recipes"]["pst_sthv1"].items() if k != "sources"})


def test_readme_table_of_differences_is_the_generated_one():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- generated: pst recipe differences -->\n", 1)[1].split("<!-- end generated -->")[0]
    assert block == differences_markdown()
    for topic in ("`data.train.randaugment.signs`", "`optim.groups`", "PatchShiftSwin `bias`", "VideoDeiT `shift_on`",
                  "`data.train.flip_pairs`", "`data.resize`"):
        assert topic in block


def test_the_params_schema_agrees_with_the_library_that_owns_each_fact():
    """The schema checks params.yaml before any job; its enums and the synthetic set's options are copies of the
    library's (the models, the recipe's modality check, SynthConfig's fields and kinds), kept equal here."""
    from dataclasses import MISSING, fields

    from pst.datasets.synthetic import MOTIONS, SynthConfig
    from pst.models import MODEL_NAMES

    schema = yaml.safe_load((ROOT / "workflow/schemas/params.schema.yaml").read_text())

    def enums(node):                      # every enum of the schema, wherever it sits
        if isinstance(node, dict):
            yield from ([node["enum"]] if "enum" in node else []) + [e for v in node.values() for e in enums(v)]
        elif isinstance(node, list):
            yield from (e for v in node for e in enums(v))

    models = [e for e in enums(schema) if "pst_t" in e]
    assert len(models) == 2 and all(m == list(MODEL_NAMES) for m in models)      # variants and flops.views
    schema = schema["properties"]
    dataset = schema["datasets"]["additionalProperties"]["properties"]
    assert keys()["data.modality"].check.accepts == "one of " + ", ".join(map(repr, dataset["modality"]["enum"]))
    synth = dataset["synth"]["properties"]
    kinds = {"int": "integer", "float": "number", "bool": "boolean", "tuple": "array"}
    assert {f.name: kinds[f.type] for f in fields(SynthConfig) if f.default is not MISSING} == \
        {name: p["type"] for name, p in synth.items()}
    assert synth["pairs"]["maximum"] == len(MOTIONS) and synth["size"]["multipleOf"] == 2
