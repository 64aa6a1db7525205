"""Video models registered with timm: DeiT-S 2D/TSM/TPS, PST-T/B, the 2D Swin and the 3D-window baselines (local,
joint space-time)."""
from pst.checks import Check, at_least, finite_number, integer
from pst.models.deit import DEIT_S, VideoDeiT, deit_s_2d, deit_s_tps, deit_s_tsm, load_deit_2d
from pst.models.swin import PatchShiftSwin, pst_b, pst_t, swin3d_t, swin_joint_t, swin_t_2d

MODEL_NAMES = ("deit_s_2d", "deit_s_tsm", "deit_s_tps", "pst_t", "pst_b", "swin_t_2d", "swin3d_t", "swin_joint_t")
FAMILIES = (VideoDeiT, PatchShiftSwin)


def create(name: str, **kwargs):
    """One of these models by name, as every tool builds it (training, FLOPs, memory, the GPU probe): an unknown
    name, an option its constructor does not take or a value it refuses is a ValueError naming the model."""
    import timm

    if name not in MODEL_NAMES:
        raise ValueError(f"model {name!r} is not a registered model; choose one of {', '.join(MODEL_NAMES)}")
    check_options(name, kwargs)
    try:
        return timm.create_model(name, **kwargs)
    except TypeError as err:
        raise ValueError(f"model {name} does not accept these options ({err}); check its options (the recipe's "
                         "model.kwargs and the variant's, or --set)") from None
    except (ValueError, AssertionError, RuntimeError, ZeroDivisionError) as err:
        raise ValueError(f"model {name} refuses its options: {err or type(err).__name__}") from None


def _counts(value, length=None) -> bool:
    """A whole number >= 1, or a list of them (of ``length``); ``length`` 0: a list only."""
    def whole(v):
        return integer(v) and v >= 1
    if isinstance(value, (list, tuple)):
        return bool(value) and all(whole(v) for v in value) and length in (None, 0, len(value))
    return length is None and whole(value)


_RATE = Check(lambda v: finite_number(v) and 0 <= v < 1, "a fraction in [0, 1)")
_COUNT = Check(_counts, "a whole number >= 1")
_POSITIVE = at_least(0, above=True)
_DEIT_TEMPORAL = {"deit_s_2d": "2d", "deit_s_tsm": "tsm", "deit_s_tps": "tps"}
# DeiT's temporal options and the temporal modes that read them: elsewhere one would be silently ignored.
_DEIT_USED_BY = {"pattern": ("tps",), "shift_back": ("tps",), "shift_heads": ("tps",), "channel_pad": ("tsm", "tps"),
                 "shift_on": ("tsm", "tps")}
# What a structural option must be, by family ({option: Check}): checked before any module is built,
# so a bad value is named by its key rather than by the tensor shape it breaks three calls down.
_OPTIONS = {
    "VideoDeiT": {
        "num_frames": _COUNT, "img_size": _COUNT, "patch_size": _COUNT, "embed_dim": _COUNT, "depth": _COUNT,
        "num_heads": _COUNT, "mlp_ratio": _POSITIVE,
        "drop_rate": _RATE, "attn_drop_rate": _RATE, "drop_path_rate": _RATE, "proj_drop_rate": _RATE,
        "pos_drop_rate": _RATE, "pos_init_std": _POSITIVE},
    "PatchShiftSwin": {
        "num_frames": _COUNT, "img_size": _COUNT, "embed_dim": _COUNT, "mlp_ratio": _POSITIVE,
        "patch_size": Check(lambda v: _counts(v, 3), "[t, h, w], whole numbers >= 1, e.g. [2, 4, 4]"),
        "window_size": Check(lambda v: _counts(v, 3), "[t, h, w], whole numbers >= 1, e.g. [1, 7, 7]"),
        "depths": Check(lambda v: _counts(v, 0), "blocks per stage, whole numbers >= 1, e.g. [2, 2, 6, 2]"),
        "num_heads": Check(lambda v: _counts(v, 0), "heads per stage, whole numbers >= 1, e.g. [3, 6, 12, 24]"),
        "bias_frames": Check(lambda v: v is None or _counts(v), "a whole number >= 1, or null"),
        "tps_stages": Check(lambda v: v is None or (isinstance(v, (list, tuple)) and len(set(v)) == len(v) and
                                                    all(integer(i) and i >= 0 for i in v)),
                            "stage numbers from 0, each once, e.g. [0, 1]; or null for every stage"),
        "drop_rate": _RATE, "attn_drop_rate": _RATE, "drop_path_rate": _RATE, "head_drop": _RATE},
}


def check_options(name: str, kwargs: dict) -> None:
    """Refuse, naming the key and what is valid, a flag that is not true or false, a structural option of the
    wrong kind or range; a DeiT input that is not a whole number of patches (its patch embedding would silently
    drop the remainder)."""
    import inspect

    flags = {n for k in family(name).__mro__ if "__init__" in vars(k)
             for n, p in inspect.signature(k.__init__).parameters.items() if p.annotation in (bool, "bool")}
    for key, value in kwargs.items():
        if key in flags and not isinstance(value, bool):
            raise ValueError(f"model {name}: {key} = {value!r} is not valid: expected true or false")
        check = _OPTIONS[family(name).__name__].get(key)
        if check is not None and not check.ok(value):
            raise ValueError(f"model {name}: {key} = {value!r} is not valid: expected {check.accepts}")
    if family(name) is VideoDeiT:
        mode = kwargs.get("temporal", _DEIT_TEMPORAL.get(name))
        for key in kwargs:
            if key in _DEIT_USED_BY and mode not in _DEIT_USED_BY[key]:
                raise ValueError(f"model {name}: {key} does not apply to its temporal mode {mode!r} (only to "
                                 f"{' and '.join(_DEIT_USED_BY[key])}); drop it, or choose deit_s_tps")
        size, patch, dim, heads = ({**DEIT_S, **kwargs}[k] for k in ("img_size", "patch_size", "embed_dim", "num_heads"))
        if size % patch:
            raise ValueError(f"model {name}: img_size = {size} is not valid: expected a multiple of the patch size "
                             f"{patch} (the patch embedding would drop the last {size % patch} pixels)")
        if dim % heads:
            raise ValueError(f"model {name}: num_heads = {heads} is not valid: expected a divisor of embed_dim {dim}")


def family(name: str):
    """The model class a registered name builds."""
    return VideoDeiT if name.startswith("deit") else PatchShiftSwin


def option_sources(name: str) -> dict[str, tuple]:
    """{option: (constructor default, source, differs)} of a model's documented options."""
    import inspect

    cls = family(name)
    out = {}
    for option, (source, differs) in cls.SOURCES.items():
        defaults = [p.default for k in cls.__mro__ if "__init__" in vars(k)
                    for n, p in inspect.signature(k.__init__).parameters.items() if n == option]
        out[option] = (defaults[0] if defaults else None, source, differs)
    return out

__all__ = ["VideoDeiT", "PatchShiftSwin", "load_deit_2d", "MODEL_NAMES", "FAMILIES", "create", "check_options", "family", "option_sources", "deit_s_2d", "deit_s_tsm", "deit_s_tps",
           "pst_t", "pst_b", "swin_t_2d", "swin3d_t", "swin_joint_t"]
