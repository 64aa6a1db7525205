"""Video models registered with timm: DeiT-S 2D/TSM/TPS, PST-T/B, the 2D Swin and the 3D-window baselines (local,
joint space-time)."""
from pst.models.deit import VideoDeiT, deit_s_2d, deit_s_tps, deit_s_tsm, load_deit_2d
from pst.models.swin import PatchShiftSwin, pst_b, pst_t, swin3d_t, swin_joint_t, swin_t_2d

MODEL_NAMES = ("deit_s_2d", "deit_s_tsm", "deit_s_tps", "pst_t", "pst_b", "swin_t_2d", "swin3d_t", "swin_joint_t")
FAMILIES = (VideoDeiT, PatchShiftSwin)


def create(name: str, **kwargs):
    """One of these models by name, as every tool builds it (training, FLOPs, memory, the GPU probe): an unknown
    name, an option its constructor does not take or a value it refuses is a ValueError naming the model."""
    import timm

    if name not in MODEL_NAMES:
        raise ValueError(f"model {name!r} is not a registered model; choose one of {', '.join(MODEL_NAMES)}")
    try:
        return timm.create_model(name, **kwargs)
    except TypeError as err:
        raise ValueError(f"model {name} does not accept these options ({err}); check its options (the recipe's "
                         "model.kwargs and the variant's, or --set)") from None
    except (ValueError, AssertionError, RuntimeError, ZeroDivisionError) as err:
        raise ValueError(f"model {name} refuses its options: {err or type(err).__name__}") from None


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

__all__ = ["VideoDeiT", "PatchShiftSwin", "load_deit_2d", "MODEL_NAMES", "FAMILIES", "create", "family", "option_sources", "deit_s_2d", "deit_s_tsm", "deit_s_tps",
           "pst_t", "pst_b", "swin_t_2d", "swin3d_t", "swin_joint_t"]
