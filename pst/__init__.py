"""Temporal Patch Shift (ECCV 2022) reproduced. ``import pst.models`` registers the video models with timm.

The top-level package stays light (no torch import) so that the workflow can plan the study in well under a second.
"""

__version__ = "0.1.0"
