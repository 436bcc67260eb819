"""The README's pictures exist, are real PNGs of a sensible size, and cover every kind of plot."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def test_readme_images_are_real_pictures():
    readme = (ROOT / "README.md").read_text()
    paths = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", readme)
    names = {Path(p).stem for p in paths}
    assert names >= {
        "optimization_history",
        "intermediate_values",
        "param_importances",
        "best_loss_curves",
        "loss_curve",
    }
    for path in paths:
        with Image.open(ROOT / path) as image:
            image.verify()
        with Image.open(ROOT / path) as image:
            assert image.format == "PNG"
            assert 300 <= image.width <= 1600 and 200 <= image.height <= 1200, (path, image.size)
            assert len(np.unique(np.asarray(image.convert("L")))) > 10, path
        assert (ROOT / path).stat().st_size < 200_000, path  # small enough to commit
