"""Per-dataset facts (../shared/datasets.md, implementation-facts.md): sources, licence-gated files, recipes."""
from __future__ import annotations

from dataclasses import dataclass

from pst.data.annotations import FRAME_START, FRAME_TEMPLATE

# How the official lists number each dataset's classes (what released checkpoints' classifier rows follow).
CLASS_ORDER = {
    "sorted": "sorted by name (Python's sorted(): K400's train labels; SSv1's labels file, as TSM's "
              "gen_label_sthv1.py writes the lists the official SSv1 config reads)",
    "labels-json": "the ids of something-something-v2-labels.json",
    "listed": "the order of the dataset's own class list (Diving48_vocab.json)",
}

# The left/right classes of Something-Something (V1 and V2 spell them alike): never flipped by the official recipe,
# ids 86, 87, 93, 94, 166, 167 in the official numbering.
SS_LEFT_RIGHT = ("Pulling something from left to right", "Pulling something from right to left",
                 "Pushing something from left to right", "Pushing something from right to left",
                 "Turning the camera left while filming something", "Turning the camera right while filming something")

K400 = "https://s3.amazonaws.com/kinetics/400"
DIVING = "http://www.svcl.ucsd.edu/projects/resound"


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    num_classes: int
    base_url: str = ""                       # what --mirror replaces
    urls: tuple[str, ...] = ()               # files fetched directly
    url_lists: tuple[str, ...] = ()          # files listing archive URLs (one a line)
    manual_files: tuple[str, ...] = ()       # licence-gated: the user places these under raw/
    sampling: str = "dense"                  # dense (K400) or uniform (SS, Diving48)
    short_side: int = 320                    # re-encode target
    test_views: tuple[int, int] = (3, 1)     # crops x clips
    class_order: str = "listed"              # how the official lists number the classes (see CLASS_ORDER)
    left_right: tuple[str, ...] = ()         # classes a horizontal flip turns into another class (pst.data.mirror)
    modality: str = "video"                  # video files, or frame folders (SSv1's JPGs)
    frame_template: str = FRAME_TEMPLATE     # frame folders: file name of frame i + frame_start (SSv1: 00001.jpg;
    frame_start: int = FRAME_START           # mmaction2's own extraction: img_{:05d}.jpg, from 1)
    clips: tuple[int, int] = (0, 0)          # train / val clips of a full copy (for cost estimates, pst cost)
    label: str = ""                          # how tables name it (K400, SSv1, ...)


CATALOG = {
    "kinetics400": DatasetInfo(
        "kinetics400", 400, K400,
        urls=tuple(f"{K400}/annotations/{s}.csv" for s in ("train", "val")),
        url_lists=tuple(f"{K400}/{s}/k400_{s}_path.txt" for s in ("train", "val")),
        sampling="dense", short_side=320, test_views=(3, 4), class_order="sorted", clips=(240_436, 19_796), label="K400"),   # mmaction2's copy
    "sthv2": DatasetInfo(
        "sthv2", 174,
        manual_files=tuple(f"20bn-something-something-v2-{i:02d}" for i in range(20)) + (
            "something-something-v2-labels.json", "something-something-v2-train.json",
            "something-something-v2-validation.json", "something-something-v2-test.json"),
        sampling="uniform", short_side=256, test_views=(3, 1), class_order="labels-json", left_right=SS_LEFT_RIGHT,
        clips=(168_913, 24_777),
        label="SSv2"),
    "sthv1": DatasetInfo(
        "sthv1", 174,
        manual_files=("20bn-something-something-v1/", "something-something-v1-labels.csv",
                      "something-something-v1-train.csv", "something-something-v1-validation.csv"),
        sampling="uniform", short_side=256, test_views=(3, 1), class_order="sorted", left_right=SS_LEFT_RIGHT,
        modality="frames", clips=(86_017, 11_522),
        label="SSv1"),
    "diving48": DatasetInfo(
        "diving48", 48, DIVING,
        urls=(f"{DIVING}/Diving48_rgb.tar.gz", f"{DIVING}/Diving48_V2_train.json", f"{DIVING}/Diving48_V2_test.json",
              f"{DIVING}/Diving48_vocab.json"),
        sampling="uniform", short_side=256, test_views=(3, 1), clips=(15_027, 1_970),
        label="Diving48"),
}


def dataset_info(name: str) -> DatasetInfo:
    if name not in CATALOG:
        raise ValueError(f"dataset: unknown {name!r}; choose one of {', '.join(CATALOG)} (or `pst data synth`)")
    return CATALOG[name]
