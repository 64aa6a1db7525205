"""Video models registered with timm: DeiT-S 2D/TSM/TPS, PST-T/B, the 2D Swin and the 3D-window baselines (local,
joint space-time)."""
from pst.models.deit import VideoDeiT, deit_s_2d, deit_s_tps, deit_s_tsm, load_deit_2d
from pst.models.swin import PatchShiftSwin, pst_b, pst_t, swin3d_t, swin_joint_t, swin_t_2d

MODEL_NAMES = ("deit_s_2d", "deit_s_tsm", "deit_s_tps", "pst_t", "pst_b", "swin_t_2d", "swin3d_t", "swin_joint_t")

__all__ = ["VideoDeiT", "PatchShiftSwin", "load_deit_2d", "MODEL_NAMES", "deit_s_2d", "deit_s_tsm", "deit_s_tps",
           "pst_t", "pst_b", "swin_t_2d", "swin3d_t", "swin_joint_t"]
