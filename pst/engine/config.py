"""The training recipe: one nested mapping (YAML/JSON or params.yaml's recipe), validated with clear errors.

One table, RECIPE, owns every key: its default, what it accepts, where the default comes from and, where the paper and
the official code differ, the other behaviour. Unknown keys are refused with their dotted path, so a typo never
silently falls back to a default.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pst.checks import Check, at_least, finite_number, one_of
from pst.data.annotations import FRAME_START, FRAME_TEMPLATE
from pst.io import absent, load_json, load_yaml, read_utf8

# Where a value comes from, in the words `pst recipe show` prints: the paper (main paper or supplement), the official
# code (the MartinXM/TPS fork of mmaction2 0.x: configs/recognition/tps/swin_tiny_2D_patch244_tps_<dataset>_1k.py,
# "the official <dataset> config"), the libraries it ran (mmcv 1.x, mmaction2 0.x, timm), or our choice and why.
OFFICIAL = "configs/recognition/tps/swin_tiny_2D_patch244_tps_{}_1k.py"


RANDAUGMENT = (None, "official", "torchvision")   # pst.data.randaugment.POLICIES
DECODERS = ("decord", "pyav", "torchcodec")        # pst.data.video.DECODERS


def _template(text) -> bool:
    """A frame-file template that formats an index (e.g. "{:05d}.jpg", "img_{:05d}.jpg")."""
    try:
        return isinstance(text, str) and text.format(1) != text.format(2)
    except (IndexError, KeyError, ValueError):
        return False


_BOOL = Check(lambda v: isinstance(v, bool), "true or false")
_PATH = Check(lambda v: isinstance(v, str) and v.strip() != "", "a path (text)")
_OPTIONAL_PATH = Check(lambda v: v is None or _PATH.ok(v), "null or a path (text)")
_SIZE = at_least(0, whole=True, above=True)
_OPTIONAL_SIZE = Check(lambda v: v is None or _SIZE.ok(v), "null or an integer > 0")
_MODEL = Check(lambda v: isinstance(v, str), "a model name (pst models lists them)")
_TEMPLATE = Check(_template, 'a file name formatting the frame number, e.g. "{:05d}.jpg"')
_AREA = Check(lambda v: isinstance(v, (list, tuple)) and len(v) == 2 and all(map(finite_number, v))
              and 0 < v[0] <= v[1] <= 1, "[low, high] fractions of the frame, 0 < low <= high <= 1")
_BETAS = Check(lambda v: isinstance(v, (list, tuple)) and len(v) == 2 and all(map(finite_number, v))
               and all(0 <= b < 1 for b in v), "[beta1, beta2], each >= 0 and < 1")
_GRAD_CLIP = Check(lambda v: v is None or (finite_number(v) and v > 0), "null (no clipping) or a number > 0")
_SMOOTHING = Check(lambda v: finite_number(v) and 0 <= v < 1, "a number >= 0 and < 1")
_MAGNITUDE = {"official": 10, "torchvision": 30}        # the top of each RandAugment policy's scale


@dataclass(frozen=True)
class Key:
    """One recipe key: its default, what it accepts, where that default comes from, and (``differs``) the other
    behaviour where the paper and the official code disagree or the official code ran something else than its config
    says, with the option that gives it (README "Where paper and official code differ" is generated from these)."""
    default: Any
    check: Check | None          # None: a free-form mapping, or a bound that depends on another key (validate())
    source: str
    differs: str = ""


RECIPE: dict[str, Any] = {
    "data": {
        "root": Key("data/synthetic", _PATH, "ours: the folder the list paths are relative to; every study sets the "
                    "dataset's own"),
        "train_list": Key("train.txt", _PATH, "ours: the internal list format (../shared/datasets.md)"),
        "val_list": Key("val.txt", _PATH, "ours: the internal list format; the official configs validate and test on "
                        "the validation list"),
        "classes": Key("classes.txt", _PATH, "ours: class names, the id is the line (numbered as the official lists)"),
        "modality": Key("video", one_of("video", "frames"), "ours: what the lists name; the catalog declares SSv1's "
                        "frame folders (official sthv1 config: RawframeDataset)"),
        "frame_template": Key(FRAME_TEMPLATE, _TEMPLATE, "official sthv1 config: filename_tmpl='{:05}.jpg'"),
        "frame_start": Key(FRAME_START, at_least(0, whole=True), "official: SSv1 ships 00001.jpg (1-based)",
                           "the released uniform sampling adds no start index and would open 00000.jpg (its own "
                           "commented-out lines add 1, as we do); `data.frame_start`, `data.frame_template` for other "
                           "numbering"),
        "decoder": Key("decord", one_of(*DECODERS), "ours: the design card's decoder: fast, and correct on every "
                       "file `pst data prepare` writes (closed-GOP H.264; validate checks the loader's own reads)",
                       "`data.decoder: pyav` (correct on every raw file tested, open-GOP H.264 and AVI with B-frames "
                       "included; 1.27x decord's clips/s on K400-like H.264, 0.67x on SSv2-like VP9) or `torchcodec` "
                       "(1.42x and 1.28x; needs FFmpeg's libraries; wrong on AVI with B-frames)"),
        "bad_videos": Key(None, _OPTIONAL_PATH, "ours: `pst data validate`'s list of videos it could not trust, "
                          "relative to data.root: training leaves them out, evaluation counts them as failed (the "
                          "study sets the dataset's)"),
        "resize": Key("mmcv", one_of("mmcv", "torchvision"), "official: mmcv 1.x Resize(scale=(-1, S)): long side "
                      "rounded to nearest, cv2 bilinear without antialiasing on uint8 (what ran)",
                      "`data.resize: torchvision`: antialiased, long side rounded down"),
        "sampling": {
            "mode": Key("dense", one_of("dense", "uniform"), "official k400 config: SampleFrames (dense); the SS and "
                        "Diving48 configs sample uniformly (frame_uniform=True)",
                        "uniform sampling with several test clips is refused: the fork's frame_uniform returns one "
                        "clip whatever num_clips says"),
            "clip_len": Key(8, at_least(0, whole=True, above=True), "ours: a small default; every paper recipe "
                            "sets the paper's"),
            "frame_interval": Key(1, _SIZE, "ours: a small default; every dense paper recipe sets the paper's"),
        },
        "train": {
            "size": Key(56, _SIZE, "ours: a small default; the paper recipes crop 224 (official: Resize((224, 224)))"),
            "short_side": Key(64, _SIZE, "ours: a small default; the paper recipes resize to 256 (official: "
                              "Resize(scale=(-1, 256)))"),
            "area": Key([0.08, 1.0], _AREA, "official: mmaction2 0.x RandomResizedCrop area_range (0.08, 1.0)"),
            "flip": Key(0.5, at_least(0, high=1), "official: Flip(flip_ratio=0.5)"),
            "no_flip_classes": Key([], None, "official k400/diving48 configs: every class flipped"),
            "flip_pairs": Key({}, None, "official: no label swapping",
                              "`data.train.flip_pairs` {class: mirror class}: flip the left/right classes and swap "
                              "their label (instead of never flipping them, what ran)"),
            "randaugment": {
                "policy": Key(None, one_of(*RANDAUGMENT), "official k400 config: no Imgaug (the SS and Diving48 "
                              "configs run Imgaug(transforms='default'))",
                              "`policy: torchvision`: torchvision's RandAugment (31-bin scale, 14 ops with Identity, "
                              "ops drawn with replacement, signs per clip), about a third as strong"),
                "num_ops": Key(2, at_least(0, whole=True), "official: mmaction2 0.x Imgaug default, SomeOf(n=2), "
                               "two distinct ops"),
                "magnitude": Key(9, None, "official: mmaction2 0.x Imgaug default, magnitude 9 of 10"),
                "signs": Key("process", one_of("process", "clip"), "official: each training process drew the signed "
                             "ops' signs once when it built its pipeline (python random.choice, unseeded; 8 "
                             "processes); we draw one sign set per process of the recipe's layout (global_batch / "
                             "batch_per_device) from the run's seed, and each clip uses one of them at random, "
                             "whatever our own layout",
                             "`signs: clip`: every clip draws its own signs (RandAugment's own definition)"),
            },
            "erasing": Key(0.0, at_least(0, high=1), "official k400 config: no RandomErasing (the SS and Diving48 "
                           "configs: timm RandomErasing(probability=0.25), area 0.02-1/3, aspect 0.3-1/0.3, zeros "
                           "after normalisation, one region for every frame)"),
            "repeated_augmentation": Key(1, at_least(0, whole=True, above=True), "official: one training clip per "
                                         "video read. k > 1 (ours, an option for a loader that cannot keep up): k "
                                         "clips, each with its own frames' augmentation, from one decode (DeiT's and "
                                         "MAE-ST's repeated augmentation); an epoch keeps its steps and clips, so it "
                                         "sees 1/k of the videos, k times each"),
        },
        "val": {
            "size": Key(56, _SIZE, "ours: a small default; official val pipeline: CenterCrop(224)"),
            "short_side": Key(64, _SIZE, "ours: a small default; official val pipeline: Resize(scale=(-1, 256))"),
            "crops": Key(1, one_of(1, 3), "official val pipeline: one centre crop"),
            "num_clips": Key(1, _SIZE, "official val pipeline: one clip"),
        },
        "test": {
            "short_side": Key(None, _OPTIONAL_SIZE, "official test pipeline: Resize(scale=(-1, 224)) then "
                              "ThreeCrop(224): None is the crop size"),
        },
        "val_subset": Key(0, at_least(0, whole=True), "ours: validation videos per epoch (0 = all, as the official "
                          "evaluation hook)"),
        "workers": Key(2, at_least(0, whole=True), "official: workers_per_gpu=2 (an execution setting)"),
        "cache_videos": Key(False, _BOOL, "ours: keep decoded videos in memory, for small sets only (an execution "
                            "setting)"),
        "normalize": Key("device", one_of("device", "loader"), "ours: where training clips are normalised (an "
                         "execution setting): device sends uint8 clips (a quarter of the bytes, no float work in the "
                         "loader) and normalises them there to the same bits; loader normalises in the worker, as "
                         "mmaction2 0.x did"),
        "pin_memory": Key(True, _BOOL, "ours: page-locked loader batches on CUDA (an execution setting)"),
        "persistent_workers": Key(True, _BOOL, "ours: loader workers kept from one epoch to the next (an execution "
                                  "setting)"),
        "prefetch_factor": Key(2, at_least(0, whole=True, above=True), "ours: torch's default, batches each loader "
                               "worker prepares ahead (an execution setting)"),
    },
    "model": {
        "name": Key("deit_s_tps", _MODEL, "ours: a default; every variant of params.yaml names its model"),
        "kwargs": Key({}, None, "params.yaml: the recipe's model size and options, then the variant's"),
        "checkpoint_2d": Key(None, _OPTIONAL_PATH, "paper: ImageNet-1K (Swin-T, DeiT-S) or ImageNet-21K (Swin-B) 2D "
                             "weights (pst/weights_2d.py); the study sets the file"),
    },
    "optim": {
        "lr": Key(0.001, at_least(0, above=True), "official configs: AdamW lr=1e-3, not rescaled for other GPU "
                  "counts"),
        "betas": Key([0.9, 0.999], _BETAS, "official configs: AdamW betas=(0.9, 0.999)"),
        "weight_decay": Key(0.02, at_least(0), "official configs: weight_decay=0.02"),
        "groups": Key("official", one_of("official", "intended", "flat"), "official: what mmcv 1.x ran from "
                      "paramwise_cfg (only the longest matching key applies): every backbone parameter, norms "
                      "included, at lr x backbone_lr_mult with weight decay; relative-position tables at the full lr "
                      "without decay; the head at the full lr",
                      "`optim.groups: intended`: what the config says (no decay on position tables and norms, "
                      "backbone lr x 0.1); `flat`: one group"),
        "backbone_lr_mult": Key(0.1, at_least(0), "official configs: paramwise_cfg backbone lr_mult=0.1"),
    },
    "schedule": {
        "epochs": Key(30, at_least(0, whole=True, above=True), "official configs: total_epochs=30"),
        "warmup_epochs": Key(2.5, at_least(0), "official configs: lr_config warmup='linear', warmup_iters=2.5, "
                             "warmup_by_epoch=True"),
        "warmup_ratio": Key(0.1, at_least(0, high=1), "mmcv 1.x: warmup_ratio default 0.1"),
        "by_epoch": Key(True, _BOOL, "mmcv 1.x: CosineAnnealing stepped per epoch (by_epoch default True)"),
        "min_lr_ratio": Key(0.0, at_least(0, high=1), "official configs: min_lr=0"),
    },
    "train": {
        "global_batch": Key(64, at_least(0, whole=True, above=True), "official: 8 GPUs x videos_per_gpu=8"),
        "batch_per_device": Key(8, at_least(0, whole=True, above=True), "official configs: videos_per_gpu=8"),
        "grad_clip": Key(None, _GRAD_CLIP, "official configs: grad_clip=None"),
        "label_smoothing": Key(0.0, _SMOOTHING, "official k400 config: no LabelSmoothing blending"),
        "mixup": Key(0.0, at_least(0), "official configs: no mixup/cutmix"),
        "amp": Key("auto", one_of("auto", "bf16", "fp16", "off"), "official: apex O1 fp16 (use_fp16=True); auto is "
                   "bf16 where the GPU has it, else fp16",
                   "`train.amp: fp16` for the official precision on a bf16 GPU; `off` for fp32"),
        "activation_checkpointing": Key(False, _BOOL, "official: use_checkpoint off unless asked (memory, not "
                                        "results)"),
        "seed": Key(0, at_least(0, whole=True, high=2**32 - 1), "ours: the official runs were unseeded "
                    "(tools/train.py --seed None); seeds are a table's"),
        "deterministic": Key(False, _BOOL, "ours: deterministic kernels on request (slower)"),
        "checkpoint_every": Key(1, at_least(0, whole=True, above=True), "official: checkpoint_config interval=1 "
                                "(an execution setting)"),
        "checkpoint_every_steps": Key(0, at_least(0, whole=True), "ours: an execution setting"),
        "checkpoint_minutes": Key(0, at_least(0), "ours: an execution setting (the paper recipes: every 30 minutes)"),
        "keep_checkpoints": Key(2, at_least(0, whole=True), "ours: an execution setting (checkpoints kept while "
                                "training; 0: all)"),
        "keep_finished": Key("last", one_of("last", "all", "none"), "ours: an execution setting (what a finished run "
                             "keeps besides its final weights: the last checkpoint, all, or none)"),
        "tensorboard": Key(False, _BOOL, "ours: an execution setting"),
        "progress": Key(True, _BOOL, "ours: an execution setting"),
        "threads": Key(0, at_least(0, whole=True), "ours: an execution setting (torch's CPU threads per node, "
                       "shared by its processes; 0: torch's own default); CPU kernels split work by thread, so the "
                       "count changes the bits"),
    },
}



def _tree(node, leaf):
    return {k: _tree(v, leaf) for k, v in node.items()} if isinstance(node, dict) else leaf(node)


def keys(node: dict = RECIPE, path: str = "") -> dict[str, Key]:
    """Every recipe key, dotted, with its Key."""
    out = {}
    for k, v in node.items():
        out.update(keys(v, f"{path}{k}.") if isinstance(v, dict) else {f"{path}{k}": v})
    return out


DEFAULTS: dict[str, Any] = _tree(RECIPE, lambda key: copy.deepcopy(key.default))


# Keys that older recipes used, and what replaced them.
RENAMED = {
    "data.train.no_flip_labels": "'data.train.no_flip_classes': name the classes (ids depend on how a copy numbers "
                                 "them), e.g. 'Pushing something from left to right'",
}
SHAPES = {"data.train.randaugment": "{policy: official, num_ops: 2, magnitude: 9} (or policy: torchvision; "
                                    "null = none)"}


def upgrade(recipe: dict, classes: list[str] | None = None) -> dict:
    """A run's recipe as an older version wrote it (config.yaml), in today's keys, meaning what it ran: a
    ``randaugment: [n, m]`` was torchvision's RandAugment; ``no_flip_labels`` / id ``flip_pairs`` name the classes
    of the run's own class list (``classes``; ids kept when it is missing, and then refused if used)."""
    out = copy.deepcopy(recipe)
    train = out.get("data", {}).get("train", {}) if isinstance(out.get("data", {}), dict) else None
    if not isinstance(train, dict):
        return out                      # not a recipe's shape: resolve refuses it, naming the key
    if isinstance(train.get("randaugment", {}), list) or train.get("randaugment", {}) is None:
        old = train["randaugment"]
        train["randaugment"] = ({"policy": None} if old is None else
                                {"policy": "torchvision", "num_ops": old[0], "magnitude": old[1]})
    name = (lambda i: classes[i] if classes and isinstance(i, int) and 0 <= i < len(classes) else i)
    if "no_flip_labels" in train:
        train["no_flip_classes"] = [name(i) for i in train.pop("no_flip_labels")]
    if any(isinstance(k, int) or str(k).isdigit() for k in train.get("flip_pairs", {})):
        train["flip_pairs"] = {name(int(k)): name(int(v)) for k, v in train["flip_pairs"].items()}
    return out


def merge(base: dict, over: dict) -> dict:
    """Two nested mappings merged, ``over`` winning key by key (a partial recipe over another); resolve() checks the
    keys of what it merges."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def nested(flat: dict) -> dict:
    """Dotted keys as a partial recipe: ``{"train.seed": 1}`` -> ``{"train": {"seed": 1}}`` (a --set, a profile's
    overrides)."""
    out: dict = {}
    for dotted, value in flat.items():
        *parents, last = str(dotted).split(".")
        node = out
        for k in parents:
            node = node.setdefault(k, {})
        node[last] = value
    return out


def _checked(recipe: dict, node: dict = RECIPE, path: str = "") -> dict:
    """A partial recipe whose every key is a recipe key and every section a mapping (``randaugment: null`` is the
    section ``{policy: null}``), refused at the first dotted key that is not; the values are validate()'s."""
    out = {}
    for key, value in recipe.items():
        where = f"{path}{key}"
        if key not in node:
            if where in RENAMED:
                raise ValueError(f"recipe: {where!r} is now {RENAMED[where]}")
            raise ValueError(f"recipe: unknown key {where!r}; known keys here: {', '.join(sorted(node))}")
        spec = node[key]
        if isinstance(spec, dict):
            if value is None and where in SHAPES:                 # e.g. randaugment: null -> none
                value = {"policy": None}
            if not isinstance(value, dict):
                shape = f" such as {SHAPES[where]}" if where in SHAPES else ""
                raise ValueError(f"recipe: {where!r} must be a mapping{shape}, got {value!r}")
            out[key] = _checked(value, spec, f"{where}.")
        elif isinstance(spec.default, dict) and not isinstance(value, dict):    # free-form: model.kwargs, flip_pairs
            raise ValueError(f"recipe: {where!r} must be a mapping, got {type(value).__name__}")
        else:
            out[key] = value
    return out


def parse_value(raw: str) -> Any:
    """JSON first (so 3e-4 is a number), then YAML (null, true, [1, 2], bare words)."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return yaml.safe_load(raw)


def parse_assignment(item: str, example: str = "train.seed=1") -> tuple[str, Any]:
    """One ``KEY=VALUE`` of --set (a recipe's dotted key, or a model option): the key and its parsed value."""
    if "=" not in item:
        raise ValueError(f"--set: expected KEY=VALUE (e.g. --set {example}), got {item!r}")
    key, raw = item.split("=", 1)
    try:
        return key, parse_value(raw)
    except yaml.YAMLError:
        raise ValueError(f"--set {key}: {raw!r} is not a value (JSON or YAML: 3e-4, true, null, "
                         f"[0.9, 0.999], a word)") from None


def resolve(recipe: dict | None = None, overrides: list[str] | None = None) -> dict:
    """Defaults <- recipe <- ``key=value`` overrides, then validated. A recipe's ``sources`` (where its values come
    from, for `pst recipe show`) are documentation, not part of the recipe."""
    merged = merge(DEFAULTS, _checked({k: v for k, v in (recipe or {}).items() if k != "sources"}))
    for item in overrides or []:
        key, value = parse_assignment(item)
        parts = key.split(".")
        for n in range(1, len(parts)):
            where = ".".join(parts[:n])
            node = get_dotted(merged, where)
            if node is not None and not isinstance(node, dict):
                raise ValueError(f"--set {key}: {where} is a value ({node!r}), not a section with keys; set "
                                 f"{where}=VALUE")
        merged = merge(merged, _checked(nested({key: value})))
    validate(merged)
    return merged


def validate(cfg: dict) -> None:
    """Refuse the first value a run could not use, saying what the key accepts."""
    policy = cfg["data"]["train"]["randaugment"]["policy"]
    depends = {"data.train.randaugment.magnitude": at_least(0, high=_MAGNITUDE.get(policy))}
    for dotted, key in keys().items():
        check = key.check or depends.get(dotted)
        value = get_dotted(cfg, dotted)
        if check and not check.ok(value):
            raise ValueError(f"recipe: {dotted} = {value!r} is not valid: expected {check.accepts}")
    d = cfg["data"]
    lists = {k: resolve_path(d["root"], d[k]) for k in ("train_list", "val_list")}
    for key, path in lists.items():
        if resolve_path(d["root"], d["classes"]) == path:
            raise ValueError(f"recipe: data.classes = {d['classes']!r} is not valid: it is data.{key}, a video list; "
                             "name the class names file (classes.txt, one name per line)")
    v = d["val"]
    if d["sampling"]["mode"] == "uniform" and v["num_clips"] > 1:
        raise ValueError(f"recipe: data.val.num_clips = {v['num_clips']} is not valid: data.sampling.mode 'uniform' "
                         "takes one clip over the whole video, so more would be identical copies; use 1")
    warmup, epochs = cfg["schedule"]["warmup_epochs"], cfg["schedule"]["epochs"]
    if warmup > epochs:
        raise ValueError(f"recipe: schedule.warmup_epochs = {warmup} is not valid: expected at most schedule.epochs "
                         f"({epochs}); the lr would never reach optim.lr")
    k, b = cfg["data"]["train"]["repeated_augmentation"], cfg["train"]["batch_per_device"]
    if b % k:
        raise ValueError(f"recipe: data.train.repeated_augmentation = {k} does not divide train.batch_per_device "
                         f"{b} (each device's batch holds whole videos' clips); choose a divisor of {b}")


def load_recipe(path: str | Path, what: str = "recipe") -> dict:
    """A recipe file (YAML/JSON), or the recipe itself as inline JSON (how the workflow passes it); ``what``: how
    the messages name it (a table's --spec is read the same way)."""
    if isinstance(path, str) and path.lstrip().startswith("["):
        raise ValueError(f"{what} {path}: inline JSON must be a mapping ({{\"train\": {{...}}}}), not a list")
    if isinstance(path, str) and path.lstrip().startswith("{"):
        try:
            data = load_json(path)
        except json.JSONDecodeError as err:
            raise ValueError(f"{what}: inline JSON does not parse ({err.msg if not err.pos else err})") from None
        if not isinstance(data, dict):
            raise ValueError(f"{what}: expected a mapping at the top level")
        return data
    if not str(path).strip():
        raise ValueError(f"{what}: an empty path; give a {what} file (YAML or JSON) or inline JSON")
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{what} {path}: a folder; give a {what} file (YAML or JSON) or inline JSON")
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path}: {absent(path)}")
    text = read_utf8(path, f"{what} (YAML or JSON)")
    try:
        data = load_json(text) if path.suffix == ".json" else load_yaml(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        where = getattr(err, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        if isinstance(err, json.JSONDecodeError):
            at = f" at line {err.lineno}, column {err.colno}" if err.pos else ""     # 0: the whole text (load_json)
        problem = getattr(err, "problem", None) or getattr(err, "msg", None) or str(err).splitlines()[0]
        raise ValueError(f"{what} {path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}{at} "
                         f"({problem}); fix the file") from None
    if not isinstance(data, dict):
        raise ValueError(f"{what} {path}: expected a mapping at the top level")
    return data


def parse_views(text: str, option: str = "--views") -> tuple[int, int]:
    """"3x4" -> (3 crops, 4 clips); ``option``: the command's option that gave it, as messages name it."""
    try:
        crops, clips = (int(v) for v in str(text).lower().split("x"))
    except ValueError:
        raise ValueError(f"{option}: expected CROPSxCLIPS such as 3x4 or 1x1, got {text!r}") from None
    if crops not in (1, 3) or clips < 1:
        raise ValueError(f"{option}: crops must be 1 or 3 and clips >= 1, got {text!r}")
    return crops, clips


def check_views(cfg: dict, views: str, option: str = "--views") -> tuple[int, int]:
    """The test views a recipe can be evaluated with: uniform sampling covers the whole video with one clip, so
    several clips would be identical copies (mmaction2's frame_uniform returns one); refused rather than scored."""
    crops, clips = parse_views(views, option)
    mode = cfg["data"]["sampling"]["mode"]
    if mode == "uniform" and clips > 1:
        raise ValueError(f"{option} {views}: data.sampling.mode 'uniform' takes one clip over the whole video, so "
                         f"{clips} clips would be {clips} identical copies; use {crops}x1")
    return crops, clips


def model_kwargs(cfg: dict, num_classes: int) -> dict:
    """The model's constructor arguments from a recipe (frames and size from the data, then the recipe's options)."""
    d, m = cfg["data"], cfg["model"]
    owned = {"num_frames": "data.sampling.clip_len", "img_size": "data.train.size", "num_classes": "data.classes"}
    for key in owned.keys() & m["kwargs"].keys():           # the model would expect another input than it gets
        raise ValueError(f"model.kwargs.{key}: set by the recipe's {owned[key]}; remove it from model.kwargs (or "
                         f"change {owned[key]})")
    kwargs = {"num_frames": d["sampling"]["clip_len"], "img_size": d["train"]["size"], "num_classes": num_classes,
              **m["kwargs"]}
    if m["checkpoint_2d"]:
        kwargs["checkpoint_2d"] = m["checkpoint_2d"]
    return kwargs


def resolve_path(root: str | Path, path: str | Path) -> Path:
    """A recipe's data path: relative to ``data.root`` unless absolute."""
    p = Path(path)
    return p if p.is_absolute() else Path(root) / p


def create_model(cfg: dict, num_classes: int, meta: bool = False):
    """The recipe's model, as every job builds it; an unknown model, an option the constructor does not take or
    a value it refuses (a pattern that is not a square integer grid, the official bias's frame limit) is a
    ValueError naming the model. ``meta``: on the meta device, without weights (no memory, no 2D init read)."""
    import torch

    from pst.models import create

    kwargs = model_kwargs(cfg, num_classes)
    if meta:
        kwargs.pop("checkpoint_2d", None)
        with torch.device("meta"):
            return create(cfg["model"]["name"], **kwargs)
    return create(cfg["model"]["name"], **kwargs)


def check_model(cfg: dict) -> None:
    """Build the recipe's model on the meta device: whatever the constructor refuses is refused at planning
    time, by the same code a training job runs."""
    create_model(cfg, num_classes=2, meta=True)


def accumulation(cfg: dict, world_size: int) -> int:
    """Micro-steps per optimizer step that keep the recipe's global batch on ``world_size`` devices."""
    g, b = cfg["train"]["global_batch"], cfg["train"]["batch_per_device"]
    if g % (b * world_size):
        raise ValueError(f"recipe: train.global_batch {g} is not a multiple of train.batch_per_device {b} x "
                         f"{world_size} device(s); change one so the global batch is kept exactly")
    return g // (b * world_size)


_ABSENT = object()


def get_dotted(cfg: dict, dotted: str, default: Any = None) -> Any:
    """The value at ``a.b.c`` of a nested mapping, ``default`` where a key is missing."""
    node = cfg
    for k in dotted.split("."):
        if not isinstance(node, dict) or k not in node:
            return default
        node = node[k]
    return node


def _has(cfg: dict, dotted: str) -> bool:
    return get_dotted(cfg, dotted, _ABSENT) is not _ABSENT


def _cited(sources: dict, dotted: str) -> str | None:
    """The source a layer gives for ``dotted``: its own, or its nearest parent's (``data.val`` covers
    ``data.val.size``)."""
    parts = dotted.split(".")
    for n in range(len(parts), 0, -1):
        text = sources.get(".".join(parts[:n]))
        if text:
            return " ".join(str(text).split())
    return None


def explain(layers: list[tuple[str, dict, dict]]) -> list[tuple[str, Any, str]]:
    """(key, resolved value, where it comes from) for every key of the recipe that ``layers`` make — each layer
    (where, partial recipe, sources) over the defaults, as pst.study.Study.recipe_layers gives them. A value comes
    from the last layer that sets it, in that layer's words where it gives a source; the model's documented options
    (pst.models.option_sources) are listed with their constructor defaults unless a layer sets them (when a layer
    names the model)."""
    merged: dict = {}
    for _, partial, _ in layers:
        merged = merge(merged, partial)
    cfg = resolve(merged)

    def origin(dotted: str, default: str) -> str:
        for where, partial, sources in reversed(layers):
            if _has(partial, dotted):
                missing = " (no source given)" if " recipes." in where else ""     # a recipe cites its values
                return _cited(sources, dotted) or f"{where}{missing}"
        return default

    rows = []
    for dotted, key in keys().items():
        if dotted == "model.kwargs":
            continue
        rows.append((dotted, get_dotted(cfg, dotted), origin(dotted, key.source)))
    kwargs = cfg["model"]["kwargs"]
    for name, value in kwargs.items():
        rows.append((f"model.kwargs.{name}", value, origin(f"model.kwargs.{name}", "")))
    from pst.models import MODEL_NAMES, option_sources

    if any(_has(partial, "model.name") for _, partial, _ in layers) and cfg["model"]["name"] in MODEL_NAMES:
        for option, (default, source, _) in option_sources(cfg["model"]["name"]).items():
            if option not in kwargs:
                rows.append((f"model.kwargs.{option}", default, f"{cfg['model']['name']}'s default: {source}"))
    return rows


def differences() -> list[tuple[str, str, str]]:
    """(what, default and why, the other behaviour and how to get it) for every recipe key and model option where
    the paper and the official code differ, or where the code ran something else than its config says: the rows of
    the README's "Where paper and official code differ"."""
    from pst.models import FAMILIES

    rows = [(f"`{dotted}`", key.source, key.differs) for dotted, key in keys().items() if key.differs]
    for cls in FAMILIES:
        rows += [(f"{cls.__name__} `{option}`", source, differs)
                 for option, (source, differs) in cls.SOURCES.items() if differs]
    return rows


def differences_markdown() -> str:
    """The README's table of differences (tests/test_recipe_sources.py keeps the README equal to it)."""
    lines = ["| what | default (where it comes from) | the other behaviour (how to get it) |", "|---|---|---|"]
    lines += [f"| {what} | {default} | {other} |" for what, default, other in differences()]
    return "\n".join(lines) + "\n"
