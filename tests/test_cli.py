"""The `pst` command as a user meets it: version, help with every default, the resolved recipe without a run,
recipes merged from several --config; and the workflow as `snakemake --lint` sees it."""
import re
import subprocess

import yaml

import pst
from conftest import ROOT


def _pst(args, env, cwd=None):
    return subprocess.run(["pst", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


def test_version_and_help_show_every_default(env_with_venv):
    out = _pst(["--version"], env_with_venv)
    assert out.returncode == 0 and out.stdout.strip() == f"pst {pst.__version__}"
    top = _pst(["--help"], env_with_venv).stdout
    commands = re.findall(r"^    (\w+)\s", top, re.M)
    assert commands.index("train") < commands.index("table") and commands[-5:] == ["table", "plot", "report",
                                                                                   "launch", "record"]
    assert "(workflow step)" in top and "workflow steps (the Snakemake rules call them" in top
    evaluate = " ".join(_pst(["evaluate", "--help"], env_with_venv).stdout.split())
    assert "CROPSxCLIPS" in evaluate and "default 1x1 (with --rescore" in evaluate and "(default: prob)" in evaluate
    assert "(default: None)" not in evaluate and "for another list) --batch-videos" in evaluate     # stated in words
    assert "softmax probabilities" in evaluate and "loader processes" in evaluate and "no progress bar" in evaluate
    train = " ".join(_pst(["train", "--help"], env_with_venv).stdout.split())
    assert "(defaults <- --config" in train and "writes nothing (default: False)" in train   # "defaults" ≠ stated
    synth = " ".join(_pst(["data", "synth", "--help"], env_with_venv).stdout.split())
    for default in ("(default: 4)", "(default: 40)", "(default: 64)", "(default: 6.0)", "(default: [0.1, 0.16])"):
        assert default in synth, default


def test_print_config_resolves_the_recipe_and_writes_nothing(tmp_path, capsys):
    from pst.cli import main

    run, example = tmp_path / "run", str(ROOT / "examples" / "recipe.yaml")
    assert main(["train", "--config", example, "--config", '{"optim": {"lr": 0.0005}}', "--set", "train.seed=3",
                 "--out", str(run), "--print-config"]) == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert cfg["model"]["name"] == "deit_s_tps" and cfg["model"]["kwargs"]["pattern"] == "C"   # the example file
    assert cfg["optim"]["lr"] == 0.0005 and cfg["optim"]["weight_decay"] == 0.05      # second --config over first
    assert cfg["train"]["seed"] == 3 and cfg["train"]["checkpoint_every"] == 1          # --set; a default filled in
    assert not run.exists() and not (tmp_path / "run.lock").exists()
    assert main(["train", "--config", example, "--set", "optim.lrr=1", "--out", str(run), "--print-config"]) == 2
    assert "optim.lrr" in capsys.readouterr().err and not run.exists()


def test_snakemake_lint_is_clean_and_every_rule_names_the_one_environment(env_with_venv):
    out = subprocess.run(["snakemake", "--lint"], cwd=ROOT, capture_output=True, text=True, env=env_with_venv,
                         timeout=120)
    lints = set(re.findall(r"^\s+\* (.+?):?$", out.stdout + out.stderr, re.M))
    assert out.returncode == 0 and not lints, lints
    rules = "".join(p.read_text() for p in (ROOT / "workflow" / "rules").glob("*.smk"))
    assert rules.count("\nrule ") == rules.count("    conda:\n        CONDA_ENV\n") > 15
    env = yaml.safe_load((ROOT / "environment.yml").read_text())      # conda packages; pip's part in the script,
    assert "pip" in env["dependencies"] and not any(isinstance(d, dict) for d in env["dependencies"])  # run in place
    assert 'pip install --quiet -e ".[slurm,torchcodec]"' in (ROOT / "environment.post-deploy.sh").read_text()


def test_every_commands_help_prints_as_written():
    """argparse %-formats a help (not a description): a % in a command's text printed '95%%' in one and crashed
    `pst --help` when not doubled (trial 13)."""
    import argparse

    from pst.cli import build_parser

    parser = build_parser()
    todo, seen = [parser], []
    while todo:
        p = todo.pop()
        text = p.format_help()
        assert "%%" not in text, text[:300]
        seen.append(p.prog)
        todo += [sub for a in p._actions if isinstance(a, argparse._SubParsersAction) for sub in a.choices.values()]
    assert len(seen) > 20


def test_an_options_default_is_the_library_functions():
    """The options that a library function also takes get their default from its signature (read from the source,
    so the parser imports no torch): the same value the imported function has, for every command that has one."""
    import inspect
    import sys

    from pst.cli import build_parser
    from pst.cli.options import defaults

    alone = subprocess.run([sys.executable, "-c", "import sys; from pst.cli import build_parser; build_parser(); "
                            "print(sorted(m for m in ('torch', 'timm') if m in sys.modules))"],
                           capture_output=True, text=True, timeout=60)
    assert alone.stdout.strip() == "[]", alone.stdout + alone.stderr       # building the parser imports none of them
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices
    data = next(a for a in sub["data"]._actions if a.dest == "data_command").choices
    from pst.datasets import fetch, preprocess, synthetic, validate
    from pst.engine import evaluate, launch, predict
    from pst.report import memory
    for command, function, options in (
            (sub["evaluate"], evaluate.evaluate_run, ("batch_videos", "max_views", "average", "workers")),
            (sub["predict"], predict.predict_videos, ("average",)), (sub["memory"], memory.training_memory, ("device",)),
            (sub["launch"], launch.launch, ("gpus",)), (data["synth"], synthetic.generate, ("workers",)),
            (data["fetch"], fetch.fetch, ("retries", "backoff")), (data["prepare"], preprocess.prepare, ("workers",)),
            (data["validate"], validate.validate, ("modality",))):
        signature = inspect.signature(function).parameters
        read = defaults(function.__module__, function.__name__)
        for option in options:
            assert command.get_default(option) == read[option] == signature[option].default, (function, option)
