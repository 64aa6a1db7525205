"""Temporal Patch Shift (ECCV 2022) reproduced. ``import pst`` registers the video models with timm."""
from pst import models, ops  # noqa: F401  (registers models with timm)

__version__ = "0.1.0"
