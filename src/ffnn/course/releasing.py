"""Student versions of the lesson notebooks: the solutions out, nbgrader's stubs in.

In a code cell a solution stands between two comment lines (indented like the code)::

    ### BEGIN SOLUTION
    return X @ W + b
    ### END SOLUTION

and becomes, at the marker's indentation, exactly nbgrader's stub::

    # YOUR CODE HERE
    raise NotImplementedError()

``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS`` regions (nbgrader's) are removed.  In a
Markdown cell ``<!-- BEGIN SOLUTION -->`` ... ``<!-- END SOLUTION -->`` becomes "YOUR ANSWER
HERE" (the text around the two comments stays).  Outputs and execution counts are cleared.

A marker line is a comment containing ``BEGIN SOLUTION`` or ``END SOLUTION`` (as in nbgrader);
"BEGIN SOLUTION" in a line of code that is not a comment is an error rather than a guess, so
that a solution never leaks into a student version by accident.
"""

from __future__ import annotations

import ast
import copy
import os
import re
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

CODE_STUB: tuple[str, str] = ("# YOUR CODE HERE", "raise NotImplementedError()")
TEXT_STUB = "YOUR ANSWER HERE"

_REGIONS = {"SOLUTION": "solution", "HIDDEN TESTS": "hidden tests"}
_MD_MARKER = re.compile(r"<!--\s*(BEGIN|END)\s+SOLUTION\s*-->")
_SKIP_DIRS = {"__pycache__"}


class CourseError(ValueError):
    """A problem with the teacher's files or arguments, said in one line."""


class MarkerError(CourseError):
    """Unmatched, nested or misplaced solution markers: names the notebook, cell and line."""

    def __init__(self, notebook: str, cell: int, line: int, message: str) -> None:
        self.notebook, self.cell, self.line = notebook, cell, line
        super().__init__(f"{notebook}, cell {cell}, line {line}: {message}")


# ------------------------------------------------------------------------------ one notebook
def _source(cell: Any) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _code_marker(line: str) -> tuple[str, str] | None:
    """("begin" | "end", "solution" | "hidden tests") for a marker line, else None."""
    found = [(edge, region) for key, region in _REGIONS.items()
             for edge in ("begin", "end") if f"{edge.upper()} {key}" in line]
    if not found:
        return None
    if len(found) > 1:
        raise ValueError("a BEGIN and an END marker on the same line: put each on its own line")
    if not line.strip().startswith("#"):
        raise ValueError(f"{found[0][0].upper()} {found[0][1].upper()} must be a comment on its "
                         f"own line (like `### {found[0][0].upper()} {found[0][1].upper()}`), "
                         f"not inside code: {line.strip()!r}")
    return found[0]


def _release_code(source: str, notebook: str, cell: int) -> str:
    out: list[str] = []
    open_region: tuple[str, int] | None = None  # (region, line number of its BEGIN)
    for n, line in enumerate(source.split("\n"), 1):
        try:
            marker = _code_marker(line)
        except ValueError as exc:
            raise MarkerError(notebook, cell, n, str(exc)) from None
        if marker is None:
            if open_region is None:
                out.append(line)
            continue
        edge, region = marker
        if edge == "begin":
            if open_region is not None:
                raise MarkerError(notebook, cell, n, f"BEGIN {region.upper()} inside the "
                                  f"{open_region[0]} region opened on line {open_region[1]} "
                                  "(regions cannot be nested; is an END missing?)")
            open_region = (region, n)
            if region == "solution":
                indent = line[:len(line) - len(line.lstrip())]
                out.extend(indent + stub for stub in CODE_STUB)
        else:
            if open_region is None:
                raise MarkerError(notebook, cell, n, f"END {region.upper()} without a BEGIN "
                                  f"{region.upper()} before it")
            if open_region[0] != region:
                raise MarkerError(notebook, cell, n, f"END {region.upper()} closes the "
                                  f"{open_region[0]} region opened on line {open_region[1]}")
            open_region = None
    if open_region is not None:
        raise MarkerError(notebook, cell, open_region[1], f"BEGIN {open_region[0].upper()} has "
                          f"no END {open_region[0].upper()}")
    return "\n".join(out)


def _release_markdown(source: str, notebook: str, cell: int) -> str:
    parts: list[str] = []
    pos = 0
    begin: re.Match | None = None
    for m in _MD_MARKER.finditer(source):
        line = source.count("\n", 0, m.start()) + 1
        if m.group(1) == "BEGIN":
            if begin is not None:
                first = source.count("\n", 0, begin.start()) + 1
                raise MarkerError(notebook, cell, line, "<!-- BEGIN SOLUTION --> inside the "
                                  f"region opened on line {first} (regions cannot be nested)")
            parts.append(source[pos:m.start()])
            begin = m
        else:
            if begin is None:
                raise MarkerError(notebook, cell, line, "<!-- END SOLUTION --> without a "
                                  "<!-- BEGIN SOLUTION --> before it")
            parts.append(TEXT_STUB)
            pos, begin = m.end(), None
    if begin is not None:
        raise MarkerError(notebook, cell, source.count("\n", 0, begin.start()) + 1,
                          "<!-- BEGIN SOLUTION --> has no <!-- END SOLUTION -->")
    parts.append(source[pos:])
    return "".join(parts)


def release_notebook(nb: Any, name: str = "notebook") -> Any:
    """The student version of a solution notebook (a new object; ``nb`` is not changed).

    Solution regions become the stubs, hidden-test regions disappear, outputs, execution
    counts and execution timings are cleared.  ``name`` appears in error messages
    (``MarkerError``: "lesson.ipynb, cell 4, line 7: ...", cells and lines counted from 1).
    """
    out = copy.deepcopy(nb)
    for i, cell in enumerate(out.get("cells", []), 1):
        source = _source(cell)
        if cell.get("cell_type") == "code":
            cell["source"] = _release_code(source, name, i)
            cell["outputs"] = []
            cell["execution_count"] = None
            cell.get("metadata", {}).pop("execution", None)
        elif cell.get("cell_type") == "markdown":
            cell["source"] = _release_markdown(source, name, i)
    out.get("metadata", {}).pop("widgets", None)  # saved widget state holds outputs too
    return out


def _has_solution(source: str) -> bool:
    for line in source.split("\n"):
        try:
            if _code_marker(line) == ("begin", "solution"):
                return True
        except ValueError:
            continue
    return False


def _top_level_functions(source: str) -> list[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython syntax (%magic, %%time, !command): the unindented defs
        return re.findall(r"^(?:async\s+)?def\s+([A-Za-z_]\w*)\s*\(", source, re.M)
    found: list[str] = []

    def visit(body: Sequence[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found.append(node.name)
            elif isinstance(node, (ast.If, ast.Try, ast.With, ast.For, ast.While)):
                for field in ("body", "orelse", "finalbody"):
                    visit(getattr(node, field, []))
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)

    visit(tree.body)
    return found


def lesson_exercises(nb: Any, known: Iterable[str] | None = None) -> list[str]:
    """The exercises of a solution notebook, in order of appearance.

    These are the functions defined at the top level of the code cells that hold a
    ``BEGIN SOLUTION`` marker whose names are exercises of the checker (``known``, by default
    ``ffnn.exercises.names()``).
    """
    if known is None:
        from ffnn.exercises import names

        known = names()
    known = set(known)
    found: list[str] = []
    for cell in nb.get("cells", []):
        source = _source(cell)
        if cell.get("cell_type") == "code" and _has_solution(source):
            found += [f for f in _top_level_functions(source) if f in known and f not in found]
    return found


# ------------------------------------------------------------------------------ a folder
def walk_files(root: Path) -> list[Path]:
    """Files under ``root`` (relative paths), without hidden files and folders or caches."""
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in _SKIP_DIRS)
        files += [Path(dirpath, f).relative_to(root) for f in sorted(filenames)
                  if not f.startswith(".")]
    return files


def read_notebook(path: Path) -> Any:
    """nbformat's notebook (version 4) at ``path``; CourseError naming the file otherwise."""
    import nbformat

    try:
        return nbformat.read(str(path), as_version=4)
    except Exception as exc:  # JSON errors, invalid notebooks, unreadable files
        raise CourseError(f"{path} is not a readable notebook ({type(exc).__name__}: "
                          f"{' '.join(str(exc).split())[:200]})") from None


def release(src: str | os.PathLike, dst: str | os.PathLike, force: bool = False) -> list[Path]:
    """Write the student versions of ``src`` (a notebook or a folder of them) into ``dst``.

    Notebooks are found recursively and keep their relative paths; the other files (data,
    images) are copied as they are; hidden files and folders and ``__pycache__`` are left out.
    Every notebook is converted before anything is written, so a marker error writes nothing.
    Existing files in ``dst`` are overwritten only with ``force``.  Returns the written files.
    """
    import nbformat

    src, dst = Path(src), Path(dst)
    if not src.exists():
        raise CourseError(f"source not found: {src}")
    if dst.exists() and not dst.is_dir():
        raise CourseError(f"the output {dst} exists and is not a folder")
    src_abs, dst_abs = src.resolve(), dst.resolve()
    if src.is_dir():
        if dst_abs == src_abs or src_abs in dst_abs.parents:
            raise CourseError(f"the output folder {dst} is inside the source folder {src}: "
                              "choose a folder outside it")
        root, files = src, walk_files(src)
        if not any(f.suffix == ".ipynb" for f in files):
            raise CourseError(f"no notebooks (*.ipynb) in {src}")
    elif src.suffix == ".ipynb":
        root, files = src.parent, [Path(src.name)]
    else:
        raise CourseError(f"{src} is neither a notebook (.ipynb) nor a folder of notebooks")

    plan: list[tuple[Path, Path, Any]] = []  # (source file, target, student notebook or None)
    for rel in files:
        path, target = root / rel, dst / rel
        if target.resolve() == path.resolve():
            raise CourseError(f"writing {target} would overwrite the source {path}")
        student = None
        if rel.suffix == ".ipynb":
            student = release_notebook(read_notebook(path), name=str(path))
        plan.append((path, target, student))
    existing = [t for _, t, _ in plan if t.exists()]
    if existing and not force:
        more = f" and {len(existing) - 1} more files" if len(existing) > 1 else ""
        raise CourseError(f"{existing[0]}{more} already exist: use --force to overwrite")
    written = []
    for path, target, student in plan:
        target.parent.mkdir(parents=True, exist_ok=True)
        if student is None:
            shutil.copyfile(path, target)
        else:
            nbformat.write(student, str(target))
        written.append(target)
    return written
