"""The built documentation site (``make docs`` -> site/): every notebook page was executed,
every picture and local link resolves, nothing is loaded from another host, and the API page of
``ffnn.layers.Dense`` shows its equation.

The tests read an existing ``site/`` and are skipped without one.  With ``FFNN_DOCS_TEST=1``
they build the site first when it is missing (fast mode, as ``make docs``), and never skip.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "site"
LESSONS = sorted(p.stem for p in (ROOT / "course").glob("[0-9][0-9]_*.ipynb"))
SEEDS = sorted(p.stem for p in (ROOT / "notebooks").glob("seed_*.ipynb"))


@pytest.fixture(scope="session")
def site() -> Path:
    if not (SITE / "index.html").is_file():
        if os.environ.get("FFNN_DOCS_TEST") != "1":
            pytest.skip("no built site: run `make docs` (or set FFNN_DOCS_TEST=1 to build it)")
        env = {**os.environ, "FFNN_FAST": "1", "MPLBACKEND": "Agg", "NO_MKDOCS_2_WARNING": "1"}
        subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(SITE)],
                       cwd=ROOT, env=env, check=True)
    return SITE


class Page(HTMLParser):
    """The parts of one HTML page the checks need."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.images: list[str] = []
        self.links: list[str] = []
        self.assets: list[str] = []  # <script src>, <link href> (stylesheets, icons)
        self.prompts: list[str] = []  # the text of each notebook input prompt ("In [3]:")
        self.text: list[str] = []
        self._prompt_depth = 0
        self._depth = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img" and a.get("src") is not None:
            self.images.append(a["src"])
        elif tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "script" and a.get("src") is not None:
            self.assets.append(a["src"])
        elif tag == "link" and a.get("href") and a.get("rel") != "canonical":
            self.assets.append(a["href"])
        if tag == "div":
            self._depth += 1
            if "jp-InputPrompt" in (a.get("class") or "").split():
                self._prompt_depth = self._depth
                self.prompts.append("")

    def handle_endtag(self, tag):
        if tag == "div":
            if self._prompt_depth == self._depth:
                self._prompt_depth = 0
            self._depth -= 1

    def handle_data(self, data):
        if self._prompt_depth:
            self.prompts[-1] += data
        self.text.append(data)


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def html_pages(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


def local_target(page: Path, url: str, site: Path) -> Path | None:
    """The file a relative URL of ``page`` points to, or None for other hosts and anchors."""
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or not parts.path:
        return None
    base = site if parts.path.startswith("/") else page.parent  # 404.html uses /assets/...
    target = (base / unquote(parts.path).lstrip("/")).resolve()
    if target.is_dir():
        target = target / "index.html"
    return target


def test_every_notebook_is_a_page(site):
    for stem in LESSONS:
        assert (site / "course" / f"{stem}.html").is_file(), stem
        assert (site / "course" / f"{stem}.ipynb").is_file(), f"{stem}: no download"
    for stem in SEEDS:
        assert (site / "notebooks" / f"{stem}.html").is_file(), stem


def test_no_page_has_an_unexecuted_cell(site):
    notebook_pages = 0
    for path in html_pages(site):
        page = parse(path)
        prompts = [p.strip() for p in page.prompts if p.strip()]
        if not prompts:
            continue
        notebook_pages += 1
        unexecuted = [p for p in prompts if not re.fullmatch(r"In\s*\[\d+\]:", p)]
        assert not unexecuted, f"{path.relative_to(site)}: unexecuted cells {unexecuted[:3]}"
        text = "".join(page.text)
        assert "Traceback (most recent call last)" not in text, path.relative_to(site)
    assert notebook_pages == len(LESSONS) + len(SEEDS)


@pytest.mark.parametrize("stem", LESSONS + SEEDS)
def test_notebook_page_shows_outputs_and_plots(site, stem):
    folder = "course" if stem in LESSONS else "notebooks"
    html = (site / folder / f"{stem}.html").read_text(encoding="utf-8")
    assert "jp-OutputArea-output" in html, f"{stem}: no output at all"
    assert re.search(r'<img[^>]+src="data:image/png;base64,', html), f"{stem}: no plot"


def test_every_image_resolves(site):
    missing = []
    for path in html_pages(site):
        for src in parse(path).images:
            if src.startswith("data:"):
                assert re.match(r"data:image/[\w+.-]+;base64,.{100,}", src), path
                continue
            target = local_target(path, src, site)
            if target is None or not target.is_file():
                missing.append(f"{path.relative_to(site)}: {src[:80]}")
    assert not missing, missing[:10]


def test_every_local_link_resolves(site):
    broken = []
    for path in html_pages(site):
        for href in parse(path).links:
            if href.startswith(("#", "mailto:", "javascript:")):
                continue
            target = local_target(path, href, site)
            if target is not None and not target.exists():
                broken.append(f"{path.relative_to(site)}: {href}")
    assert not broken, broken[:10]


def test_nothing_is_loaded_from_another_host(site):
    """Scripts, stylesheets and fonts are all in site/: the site works offline (MathJax is
    vendored in docs/javascripts/)."""
    external = set()
    for path in html_pages(site):
        for url in parse(path).assets:
            if urlsplit(url).scheme in ("http", "https") or url.startswith("//"):
                external.add(url)
            else:
                target = local_target(path, url, site)
                assert target is not None and target.is_file(), f"{path}: {url}"
    assert not external, sorted(external)
    assert (site / "javascripts" / "mathjax" / "tex-chtml-full.js").is_file()
    fonts = site / "javascripts" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2"
    assert len(list(fonts.glob("*.woff"))) > 10


def test_dense_reference_shows_its_equation_and_shapes(site):
    html = (site / "reference" / "layers.html").read_text(encoding="utf-8")
    start = html.index('id="ffnn.layers.Dense"')
    dense = html[start:html.index('id="ffnn.layers.Dropout"')]
    assert re.search(r'class="arithmatex">\s*\\\[\s*Z = XW \+ b', dense), "LaTeX equation"
    assert r"dW = X^\top dZ" in dense
    assert "Z = X W + b" in dense and "(D_in, D_out)" in dense, "plain-text equation with shapes"
    assert "in_features" in dense  # the signature


def test_reference_covers_the_public_modules(site):
    for module in ("layers", "activations", "losses", "network", "optimizers", "training",
                   "gradcheck", "init", "functional", "io", "tracing", "explain",
                   "diagnostics", "datasets", "metrics", "plots", "sklearn", "callbacks",
                   "schedules", "playground.session", "playground.protocol", "exercises",
                   "course"):
        html = (site / "reference" / f"{module}.html").read_text(encoding="utf-8")
        assert 'class="doc doc-' in html, f"{module}: nothing rendered"
