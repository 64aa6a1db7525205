"""Video models registered with timm: DeiT-S 2D/TSM/TPS, PST-T/B, the 2D Swin and the 3D-window baselines (local,
joint space-time)."""
from pst.models.deit import VideoDeiT, deit_s_2d, deit_s_tps, deit_s_tsm, load_deit_2d
from pst.models.swin import PatchShiftSwin, pst_b, pst_t, swin3d_t, swin_joint_t, swin_t_2d

MODEL_NAMES = ("deit_s_2d", "deit_s_tsm", "deit_s_tps", "pst_t", "pst_b", "swin_t_2d", "swin3d_t", "swin_joint_t")
FAMILIES = (VideoDeiT, PatchShiftSwin)


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

__all__ = ["VideoDeiT", "PatchShiftSwin", "load_deit_2d", "MODEL_NAMES", "FAMILIES", "family", "option_sources", "deit_s_2d", "deit_s_tsm", "deit_s_tps",
           "pst_t", "pst_b", "swin_t_2d", "swin3d_t", "swin_joint_t"]
