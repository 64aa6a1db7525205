"""docs/randaugment.jpg: what the official RandAugment (mmaction2 0.x Imgaug default, pst.data.randaugment) does to a
real frame, op by op, and six clips' worth of the official policy beside torchvision's RandAugment(2, 9), which the
SS and Diving48 recipes used before (about a third as strong).

    python docs/randaugment.py [IMAGE]      # default: matplotlib's sample photograph (grace_hopper.jpg)
"""
import sys
from pathlib import Path

import matplotlib
import numpy as np
import torch
from PIL import Image
from torchvision.transforms import v2

from pst.data.randaugment import ClipRandAugment, apply_op, official_ops
from pst.data.transforms import resize_short
from pst.report.plots import pyplot, save_figure


def frame(path: str, size: int = 224) -> np.ndarray:
    """The photograph as a training frame: short side 224, centre crop (uint8 HWC)."""
    img = torch.from_numpy(np.array(Image.open(path).convert("RGB"))).permute(2, 0, 1)[None]
    img = resize_short(img, size)[0]
    h, w = img.shape[-2:]
    top, left = (h - size) // 2, (w - size) // 2
    return img[:, top:top + size, left:left + size].permute(1, 2, 0).contiguous().numpy()


def main(path: str, out: Path) -> Path:
    plt = pyplot()
    x = frame(path)
    panels = [("input", x)]
    for op in official_ops(9):
        for sign in ((1, -1) if op.signed else (1,)):
            label = f"{op.name} {'+' if sign > 0 else '-'}{op.value:g}" if op.signed else \
                f"{op.name}" + ("" if op.value is None else f" {op.value:g}")
            panels.append((label, apply_op(x[None], op, sign, (0.3, 0.3))[0]))
    torch.manual_seed(0)
    clip = torch.from_numpy(x).permute(2, 0, 1)[None]
    official = ClipRandAugment(2, 9, signs="clip")
    tv = v2.RandAugment(2, 9)
    draws = [(f"official #{i + 1}", official(clip)[0].permute(1, 2, 0).numpy()) for i in range(6)]
    draws += [(f"torchvision #{i + 1}", tv(clip)[0].permute(1, 2, 0).numpy()) for i in range(6)]
    cols = 7
    rows = -(-len(panels) // cols) + 2
    fig, axes = plt.subplots(rows, cols, figsize=(2 * cols, 2.2 * rows))
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (label, img) in zip(axes.ravel(), panels):
        ax.imshow(img)
        ax.set_title(label, fontsize=8)
    for i, (label, img) in enumerate(draws):
        ax = axes[rows - 2 + i // 6, i % 6]
        ax.imshow(img)
        ax.set_title(label, fontsize=8)
    fig.suptitle("Official RandAugment (mmaction2 0.x Imgaug default, magnitude 9 of 10): each op, then 6 clips "
                 "of the policy beside torchvision's RandAugment(2, 9)", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out)


if __name__ == "__main__":
    default = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    print(main(sys.argv[1] if len(sys.argv) > 1 else str(default), Path(__file__).with_name("randaugment.jpg")))
