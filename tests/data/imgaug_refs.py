"""Writes imgaug_refs.npz: what the real imgaug 0.4.0 does to small test images, op by op, with each of mmaction2
0.x's default Imgaug ops built exactly as mmaction2's builder builds them (tests/test_randaugment.py compares).

Not run by the tests: it needs imgaug 0.4.0 in an environment of its time (Python 3.11: numpy 1.23.5, scipy 1.9.3,
scikit-image 0.20.0, opencv-python-headless 4.6.0.66, Pillow 9.3.0, Shapely 2.0.0, imageio 2.22.4, six; imgaug
installed with --no-deps, as its metadata asks for the non-headless OpenCV). scikit-image 0.21 changed imgaug's shear.

    python tests/data/imgaug_refs.py tests/data/imgaug_refs.npz
"""
import sys

import imgaug
import imgaug.augmenters as iaa
import numpy as np

LEVEL = 9 / 10
OPS = [("ShearX", "shear", 17.19 * LEVEL), ("ShearY", "shear", 17.19 * LEVEL),
       ("TranslateX", "percent", 0.2 * LEVEL), ("TranslateY", "percent", 0.2 * LEVEL),
       ("Rotate", "rotate", 30 * LEVEL), ("Posterize", "nb_bits", max(1, int(4 * LEVEL))),
       ("Solarize", "threshold", 256 * LEVEL), ("EnhanceColor", "factor", 1.8 * LEVEL + 0.1),
       ("EnhanceContrast", "factor", 1.8 * LEVEL + 0.1), ("EnhanceBrightness", "factor", 1.8 * LEVEL + 0.1),
       ("EnhanceSharpness", "factor", 1.8 * LEVEL + 0.1), ("Autocontrast", "cutoff", 0), ("Equalize", None, None),
       ("Invert", "p", 1.0), ("Cutout", "size", 0.2 * LEVEL)]
SIGNED = {"ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate"}


def build(name, key, value, seed):
    """mmaction2 0.x Imgaug.imgaug_builder: the top-level augmenter of that name, else the pillike one."""
    cls = getattr(iaa, name) if hasattr(iaa, name) else getattr(iaa.pillike, name)
    args = {} if key is None else {key: value}
    if name == "Cutout":
        args.update(nb_iterations=1, squared=True)
    return cls(seed=seed, **args)


def images():
    rng = np.random.default_rng(0)
    out = {}
    for h, w in ((32, 32), (40, 40), (36, 52)):
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([255 * xx / w, 255 * yy / h, 128 + 100 * np.sin(xx / 3.0)], -1)
        out[f"{h}x{w}"] = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
    out["lowc_40x40"] = np.clip(100 + rng.normal(0, 12, (40, 40, 3)), 0, 255).astype(np.uint8)   # max < 255
    return out


def main(path):
    data = {"versions": np.array(f"imgaug {imgaug.__version__}, numpy {np.__version__}")}
    for key, img in images().items():
        data[f"in|{key}"] = img
        for name, arg, value in OPS:
            for sign in ((1, -1) if name in SIGNED else (1,)):
                aug = build(name, arg, value * sign if name in SIGNED else value, seed=3)
                data[f"out|{key}|{name}|{sign}"] = aug.augment_image(img.copy())
                if name == "Cutout":
                    s = build(name, arg, value, seed=3)._draw_samples([img], build(name, arg, value, seed=3)
                                                                       .random_state.copy())
                    data[f"cutout|{key}"] = np.array([s.pos_x[0], s.pos_y[0]], dtype=np.float32)
    np.savez_compressed(path, **data)


if __name__ == "__main__":
    main(sys.argv[1])
