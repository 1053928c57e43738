"""Draw each pen-based digit as a 28x28 picture, for `prunekit data gallery --views`.

The 16 features of KEEL's pen-based set are 8 (x, y) pen positions resampled along the stroke
(min-max scaled to [0, 1] by prunekit.datasets; y grows upwards). Joining them in order gives a
recognisable digit, so the gallery can show pictures instead of ids.

    python examples/penbased_views.py -o pen_views.npy     # (9892, 28, 28) uint8, training order
"""
import argparse

import numpy as np
from PIL import Image, ImageDraw

from prunekit.datasets import load


def draw(row: np.ndarray, size: int = 28, margin: int = 3, scale: int = 4) -> np.ndarray:
    big = size * scale
    img = Image.new("L", (big, big), 0)
    span = big - 2 * margin * scale
    pts = [(margin * scale + float(x) * span, margin * scale + (1.0 - float(y)) * span)
           for x, y in row.reshape(-1, 2)]
    ImageDraw.Draw(img).line(pts, fill=255, width=2 * scale, joint="curve")
    return np.asarray(img.resize((size, size), Image.LANCZOS), dtype=np.uint8)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", default="pen_views.npy")
    args = ap.parse_args()
    X = load("penbased").X_train
    np.save(args.out, np.stack([draw(r) for r in np.asarray(X)]))
    print(f"wrote {args.out}: {len(X)} pictures")


if __name__ == "__main__":
    main()
