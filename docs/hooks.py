"""MkDocs build hooks for ffnn's documentation site (``hooks:`` in mkdocs.yml).

MkDocs reads only ``docs/``; the notebooks live in ``course/`` and ``notebooks/`` and the
benchmark report in ``benchmarks/README.md``.  This hook makes them pages without copying
anything into the source tree:

* ``course/NN_*.ipynb`` (the lessons) and ``notebooks/seed_*.ipynb`` (the seeds) become pages at
  the same paths, ``course/NN_*.html`` and ``notebooks/seed_*.html``, which mkdocs-jupyter
  executes and renders (the section pages beside them are ``docs/course/index.md`` and
  ``docs/notebooks/index.md``);
* ``benchmarks/README.md``    -> ``benchmarks.md``      (links into the repository rewritten)

It also rewrites links to source files (``../src/ffnn/layers.py``, as docs/math.md writes them
for readers on GitHub) into links to the module's API page, and removes from the notebook pages
the MathJax 2 loader nbconvert adds: the site loads its own vendored MathJax 3 once for every
page (docs/javascripts/).
"""

from __future__ import annotations

import ast
import posixpath
import re
from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]

NOTEBOOKS = ("course/[0-9][0-9]_*.ipynb", "notebooks/seed_*.ipynb")

# ../src/ffnn/layers.py or ../src/ffnn/playground/protocol.py (optionally #anchor)
SOURCE_LINK = re.compile(r"\]\((?:\.\./)+src/(ffnn/[\w/]+)\.py(#[^)]*)?\)")
REPO_LINK = re.compile(r"(?<!!)\[([^\]]*)\]\((?!https?:|#|mailto:)([^)#\s]+)(#[^)\s]*)?\)")

# nbconvert's lab template: <script src="{mathjax_url}"> plus a MathJax-2-only configuration
NB_MATHJAX = re.compile(
    r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.DOTALL)


def _notebook_files(config) -> list[File]:
    # a real File whose source folder is the repository (not File.generated: mkdocs-jupyter's
    # wrapper recomputes the source path from src_dir + src_uri)
    return [File(path.relative_to(ROOT).as_posix(), src_dir=str(ROOT),
                 dest_dir=config.site_dir, use_directory_urls=config.use_directory_urls)
            for pattern in NOTEBOOKS for path in sorted(ROOT.glob(pattern))]


def _benchmarks_page(config) -> File:
    text = (ROOT / "benchmarks" / "README.md").read_text(encoding="utf-8")
    return File.generated(config, "benchmarks.md", content=_repo_links(text, "benchmarks"))


def _repo_links(markdown: str, src_folder: str) -> str:
    """Links of a repository file (relative to ``src_folder``) made valid on the site: a link to
    a docs page stays a link, anything else becomes its path in code (the file is in the
    repository, not on the site)."""

    def fix(m: re.Match) -> str:
        text, target, anchor = m.group(1), m.group(2), m.group(3) or ""
        repo_path = posixpath.normpath(posixpath.join(src_folder, target))
        if repo_path.startswith("docs/"):
            return f"[{text}]({posixpath.relpath(repo_path, 'docs')}{anchor})"
        return f"{text} (`{repo_path}`)"

    return REPO_LINK.sub(fix, markdown)


@event_priority(100)  # before mkdocs-jupyter wraps the notebooks
def on_files(files: Files, config) -> Files:
    for f in _notebook_files(config):
        files.append(f)
    files.append(_benchmarks_page(config))
    return files


# <!-- module-docstring-as-text: src/ffnn/playground/protocol.py -->: that module's docstring as
# a plain-text block, for docstrings laid out as aligned text tables rather than Markdown
DOCSTRING_AS_TEXT = re.compile(r"<!-- module-docstring-as-text: (\S+) -->")


def _docstring_as_text(m: re.Match) -> str:
    source = (ROOT / m.group(1)).read_text(encoding="utf-8")
    doc = ast.get_docstring(ast.parse(source)) or ""
    return '<div class="plain-docstring" markdown>\n\n```text\n' + doc + "\n```\n\n</div>"


def on_page_markdown(markdown: str, page, config, files: Files) -> str:
    """``](../src/ffnn/layers.py)`` -> ``](reference/layers.md)`` (relative to the page);
    docstring placeholders -> text blocks."""
    markdown = DOCSTRING_AS_TEXT.sub(_docstring_as_text, markdown)
    page_dir = posixpath.dirname(page.file.src_uri)

    def to_reference(m: re.Match) -> str:
        module = m.group(1).replace("/", ".")
        name = module.removeprefix("ffnn.") or "ffnn"
        target = f"reference/{name}.md"
        if files.get_file_from_path(target) is None:
            target = "reference/fastpath.md" if name.startswith("_") else "reference/index.md"
        return f"]({posixpath.relpath(target, page_dir or '.')})"

    return SOURCE_LINK.sub(to_reference, markdown)


def on_post_page(output: str, page, config) -> str:
    if page.file.src_uri.endswith(".ipynb"):
        output = NB_MATHJAX.sub("", output)
    return output
