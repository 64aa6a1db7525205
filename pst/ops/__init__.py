"""The paper's contribution, small and exact: shift patterns, temporal patch shift, temporal channel shift."""
# What one block of either family (DeiT, Swin) moves across frames before its attention; None: nothing (2D).
BLOCK_SHIFTS = (None, "channel", "patch")
from pst.ops.patterns import PAPER_PATTERN, PATTERNS, frames_covered, pattern_grid
from pst.ops.shift import (channel_shift, offset_map, patch_shift, patch_shift_index, pattern_key, permute_tokens,
                           source_frames)

__all__ = ["BLOCK_SHIFTS", "PAPER_PATTERN", "PATTERNS", "pattern_grid", "frames_covered", "patch_shift",
           "patch_shift_index", "offset_map", "channel_shift", "permute_tokens", "pattern_key", "source_frames"]
