"""The documentation: the site builds with warnings as errors, the README's links land, and the pictures the docs
show exist, are real PNGs of a sensible size, and cover every kind of plot."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
LINK = re.compile(r"(!?)\[[^\]]*\]\(([^)\s]+)\)")


def links(page: Path) -> list[tuple[bool, str]]:
    """(is a picture, target) of every Markdown link on a page, code blocks left out."""
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.DOTALL)
    return [(bang == "!", target) for bang, target in LINK.findall(text)]


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def test_docs_site_builds(tmp_path):
    """`mkdocs build --strict`: a broken link or anchor, or a page left out of the nav, fails the build."""
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "site" / "architecture" / "index.html").is_file()


def test_readme_links_point_at_files_and_headings():
    """The site's build checks the docs' links; the README is outside it, so its relative links are checked here,
    anchors included."""
    from markdown.extensions.toc import slugify

    relative = [target for _, target in links(ROOT / "README.md") if not re.match(r"[a-z]+:", target)]
    assert any(target.startswith("docs/") for target in relative)
    for target in relative:
        path, _, anchor = target.partition("#")
        file = ROOT / path if path else ROOT / "README.md"
        assert file.exists(), target
        if anchor:
            headings = re.findall(r"^#+ (.+)$", file.read_text(), flags=re.MULTILINE)
            assert anchor in {slugify(h.replace("`", ""), "-") for h in headings}, target


def test_docs_images_are_real_pictures():
    shown = [
        (page.parent / target).resolve()
        for page in pages()
        for picture, target in links(page)
        if picture and target.endswith(".png")
    ]
    assert {path.stem for path in shown} >= {
        "optimization_history",
        "intermediate_values",
        "param_importances",
        "parallel_coordinate",
        "best_loss_curves",
        "loss_curve",
        "compare_best_so_far",
        "compare_pruners",
    }
    for path in shown:
        assert path.is_relative_to(DOCS / "images"), path  # the site copies only docs/
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            assert image.format == "PNG"
            assert 300 <= image.width <= 1600 and 200 <= image.height <= 1200, (path, image.size)
            assert len(np.unique(np.asarray(image.convert("L")))) > 10, path
        assert path.stat().st_size < 200_000, path  # small enough to commit
