"""Grading the submissions: each in its own process, kernel and folder, with a time limit.

    grade("course/", "inbox/", "grades.csv", timeout=120, jobs=2)

Submissions: ``inbox/<student>/<lesson>.ipynb`` (one folder per student) or, when the source
holds a single lesson, ``inbox/<student>.ipynb``.  The lesson is found by file name among the
solution notebooks; its exercises are the functions of ``ffnn.exercises.names()`` defined in
its cells with ``BEGIN SOLUTION`` markers (``release.lesson_exercises``).

Each submission is copied into a fresh temporary folder and run there by a child process
(``python -m ffnn.course _run-one``, in a new session) with ``FFNN_FAST=1``, ``MPLBACKEND=Agg``,
single-threaded BLAS, an address-space limit and a random token in its environment; the child
starts the kernel and runs the notebook (``runner``).  When the child has not ended
``timeout`` + ``KILL_MARGIN`` seconds after its start, the grader kills its process group, the
kernel's process group and (on Linux) every process whose environment carries the token.  The
folder is removed afterwards; the submission itself is only read.

Writes ``grades.csv`` (one row per student and lesson: ``student, lesson``, one 1/0 column per
exercise, ``score, max_score, status``) and ``feedback/<student>.md`` next to it.
"""

from __future__ import annotations

import csv
import json
import os
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from .releasing import CourseError, lesson_exercises, read_notebook, walk_files

KILL_MARGIN = 10.0  # seconds the child may overrun its own deadline before it is killed
TOKEN_VAR = "FFNN_GRADE_RUN"


@dataclass(frozen=True)
class Lesson:
    """A solution notebook and the exercises it asks for (in order of appearance)."""

    name: str
    path: Path
    exercises: tuple[str, ...]


@dataclass(frozen=True)
class Submission:
    """One student's notebook for one lesson."""

    student: str
    lesson: str
    path: Path


@dataclass
class Graded:
    """The grading of one submission.

    ``results`` maps each exercise to the checker's ``to_dict()`` (name, passed, diagnosis,
    report); ``status`` is ``ok``, ``timeout``, ``crashed`` or ``error: ...``; ``events`` are
    sentences for the student (what stopped or crashed), ``cell_errors`` the exceptions
    raised by the notebook's own cells.
    """

    student: str
    lesson: str
    exercises: tuple[str, ...]
    results: dict[str, dict]
    status: str
    events: list[str] = field(default_factory=list)
    cell_errors: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    def passed(self, exercise: str) -> bool:
        """Whether ``exercise`` passed (False when it was not graded)."""
        return bool(self.results.get(exercise, {}).get("passed"))

    @property
    def score(self) -> int:
        """The number of exercises passed."""
        return sum(self.passed(e) for e in self.exercises)

    @property
    def max_score(self) -> int:
        """The number of exercises of the lesson."""
        return len(self.exercises)


# ------------------------------------------------------------------------------ finding
def _known_exercises() -> list[str]:
    try:
        from ffnn.exercises import names
    except Exception as exc:
        raise CourseError(f"the exercise checker ffnn.exercises is not available: {exc}") \
            from None
    return names()


def find_lessons(source: str | os.PathLike, known: list[str] | None = None) -> dict[str, Lesson]:
    """The lessons of ``source`` (a solution notebook or a folder searched recursively), by
    file name without ``.ipynb``; lessons without exercises are included (empty)."""
    source = Path(source)
    if source.is_file() and source.suffix == ".ipynb":
        paths = [source]
    elif source.is_dir():
        paths = [source / p for p in walk_files(source) if p.suffix == ".ipynb"]
    else:
        raise CourseError(f"solutions not found: {source} is not a notebook or a folder")
    if not paths:
        raise CourseError(f"no solution notebooks (*.ipynb) in {source}")
    known = _known_exercises() if known is None else known
    lessons: dict[str, Lesson] = {}
    for path in sorted(paths):
        if path.stem in lessons:
            raise CourseError(f"two lessons are called {path.stem}: {lessons[path.stem].path} "
                              f"and {path}")
        names = lesson_exercises(read_notebook(path), known)
        lessons[path.stem] = Lesson(path.stem, path, tuple(names))
    return lessons


def find_submissions(submissions: str | os.PathLike,
                     lessons: dict[str, Lesson]) -> list[Submission]:
    """``DIR/<student>/<lesson>.ipynb`` and ``DIR/<student>.ipynb`` (when the solutions hold
    one lesson, or one lesson with exercises), sorted by student and lesson.

    A notebook whose name is no lesson is an error naming the file; hidden files and folders
    are ignored.
    """
    root = Path(submissions)
    if not root.is_dir():
        raise CourseError(f"submissions folder not found: {root}")
    found: dict[tuple[str, str], Submission] = {}

    def add(sub: Submission) -> None:
        key = (sub.student, sub.lesson)
        if key in found:
            raise CourseError(f"two submissions of {sub.student} for {sub.lesson}: "
                              f"{found[key].path} and {sub.path}")
        found[key] = sub

    for entry in sorted(root.iterdir()):
        if entry.name.startswith(".") or entry.name == "__pycache__":
            continue
        if entry.is_dir():
            for path in sorted(entry.glob("*.ipynb")):
                if path.name.startswith("."):
                    continue
                if path.stem not in lessons:
                    raise CourseError(f"unknown lesson: {path} matches no solution notebook "
                                      f"(lessons: {', '.join(lessons)})")
                add(Submission(entry.name, path.stem, path))
        elif entry.suffix == ".ipynb":
            graded = [name for name, lesson in lessons.items() if lesson.exercises]
            if len(lessons) != 1 and len(graded) != 1:
                raise CourseError(f"{entry}: a notebook named after a student needs a single "
                                  f"lesson, but the solutions hold {len(lessons)}; put it in "
                                  f"{root / entry.stem}/<lesson>.ipynb")
            add(Submission(entry.stem, graded[0] if len(graded) == 1 else next(iter(lessons)),
                           entry))
    return [found[k] for k in sorted(found)]


# ------------------------------------------------------------------------------ processes
def _environment(token: str, private: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(FFNN_FAST="1", MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1",
               IPYTHONDIR=str(private / "ipython"), JUPYTER_RUNTIME_DIR=str(private / "runtime"))
    env[TOKEN_VAR] = token
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "NUMBA_NUM_THREADS"):
        env.setdefault(var, "1")  # jobs run side by side: one thread each
    root = str(Path(__file__).resolve().parents[2])  # the folder holding this ffnn
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    return env


def _carries_token(pid: int, token: str) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            return f"{TOKEN_VAR}={token}".encode() in fh.read().split(b"\0")
    except OSError:
        return False


def _token_processes(token: str) -> list[int]:
    """Processes whose environment carries the run's token (Linux; empty elsewhere)."""
    if not os.path.isdir("/proc"):
        return []
    me = os.getpid()
    return [int(p) for p in os.listdir("/proc")
            if p.isdigit() and int(p) != me and _carries_token(int(p), token)]


def _kill(pid: int, group: bool) -> None:
    try:
        if group and hasattr(os, "killpg"):
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError):
        pass


def _kill_all(proc: subprocess.Popen, pidfile: Path, token: str, timed_out: bool) -> None:
    """Kill what is left of a run: the child's group, the kernels' groups, the token's carriers.

    The child is a session leader, and so is each kernel (jupyter_client starts it in a new
    session): killing their groups takes their subprocesses too.
    """
    if timed_out:
        _kill(proc.pid, group=True)  # not reaped yet: the id cannot have been reused
    if pidfile.exists():
        for line in pidfile.read_text().split():
            pid = int(line) if line.isdigit() else 0
            if pid and (timed_out or _carries_token(pid, token)):
                _kill(pid, group=True)
    for _ in range(5):  # processes that left the groups (setsid), forks while killing
        left = _token_processes(token)
        if not left:
            break
        for pid in left:
            _kill(pid, group=False)
        time.sleep(0.05)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:  # pragma: no cover
        pass


def _rmtree(path: Path) -> None:
    """Remove a folder even when the student made its files read-only."""
    def retry(func, p, *_):
        try:
            os.chmod(os.path.dirname(p), stat.S_IRWXU)
            os.chmod(p, stat.S_IRWXU)
            func(p)
        except OSError:
            pass

    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=retry)
    else:
        shutil.rmtree(path, onerror=retry)


class _Runner:
    """Starts the child processes; ``stop()`` kills the running ones (Ctrl-C)."""

    def __init__(self, timeout: float, cell_timeout: float | None, memory_limit: int) -> None:
        self.timeout, self.cell_timeout, self.memory_limit = timeout, cell_timeout, memory_limit
        self.lock = threading.Lock()
        self.running: dict[int, subprocess.Popen] = {}
        self.stopped = False

    def stop(self) -> None:
        with self.lock:
            self.stopped = True
            for proc in self.running.values():
                _kill(proc.pid, group=True)

    def __call__(self, sub: Submission, lesson: Lesson) -> Graded:
        start = time.monotonic()
        token = secrets.token_hex(12)
        work = Path(tempfile.mkdtemp(prefix="ffnn-grade-"))
        private = Path(tempfile.mkdtemp(prefix="ffnn-grade-control-"))
        pidfile, result, log = private / "kernels.pid", private / "result.json", private / "log"
        try:
            copy = work / sub.path.name
            shutil.copyfile(sub.path, copy)
            cmd = [sys.executable, "-m", "ffnn.course", "_run-one", "--notebook", str(copy),
                   "--exercises", ",".join(lesson.exercises), "--timeout", str(self.timeout),
                   "--memory-limit", str(self.memory_limit), "--pidfile", str(pidfile),
                   "--result", str(result)]
            if self.cell_timeout is not None:
                cmd += ["--cell-timeout", str(self.cell_timeout)]
            with open(log, "wb") as out:
                with self.lock:
                    if self.stopped:
                        raise KeyboardInterrupt
                    proc = subprocess.Popen(cmd, cwd=work, env=_environment(token, private),
                                            stdin=subprocess.DEVNULL, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)
                    self.running[proc.pid] = proc
                timed_out = False
                try:
                    proc.wait(timeout=self.timeout + KILL_MARGIN)
                except subprocess.TimeoutExpired:
                    timed_out = True
                finally:
                    _kill_all(proc, pidfile, token, timed_out)
                    with self.lock:
                        self.running.pop(proc.pid, None)
            outcome = self._outcome(proc, result, log, timed_out)
        finally:
            _rmtree(work)
            _rmtree(private)
        return Graded(sub.student, sub.lesson, lesson.exercises,
                      {r["name"]: r for r in outcome.get("results", [])}, outcome["status"],
                      list(outcome.get("events", [])), list(outcome.get("cell_errors", [])),
                      round(time.monotonic() - start, 2))

    def _outcome(self, proc: subprocess.Popen, result: Path, log: Path, timed_out: bool) -> dict:
        if result.exists():
            try:
                return json.loads(result.read_text())
            except ValueError:
                pass
        if timed_out:
            return {"status": "timeout", "events": [
                f"Your notebook did not finish within {self.timeout:g} s and was stopped, so "
                "nothing could be checked: look for an endless loop or a very long "
                "computation."]}
        if self.stopped:
            return {"status": "error: grading interrupted"}
        if proc.returncode is not None and proc.returncode < 0:
            return {"status": "crashed", "events": [
                f"The grading process was killed (signal {-proc.returncode}), probably for "
                "using too much memory; nothing could be checked."]}
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
        return {"status": f"error: the grading process failed (exit status {proc.returncode}"
                          + (f": {tail[0][:200]}" if tail else "") + ")"}


def _safely(runner: _Runner, sub: Submission, lesson: Lesson) -> Graded:
    """``runner(sub, lesson)``; an unexpected failure becomes this submission's error."""
    try:
        return runner(sub, lesson)
    except Exception as exc:
        return Graded(sub.student, sub.lesson, lesson.exercises, {},
                      f"error: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}")


# ------------------------------------------------------------------------------ reports
def write_csv(graded: list[Graded], path: Path, columns: list[str]) -> None:
    """One row per submission: student, lesson, 1/0 per exercise ('' if not in the lesson),
    score, max_score, status."""
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["student", "lesson", *columns, "score", "max_score", "status"])
        for g in graded:
            marks = [("1" if g.passed(c) else "0") if c in g.exercises else "" for c in columns]
            w.writerow([g.student, g.lesson, *marks, g.score, g.max_score, g.status])


def feedback_markdown(student: str, graded: list[Graded]) -> str:
    """The feedback for one student: per lesson what happened, per exercise the report."""
    lines = [f"# Feedback for {student}", ""]
    for g in graded:
        lines += [f"## {g.lesson}: {g.score} of {g.max_score} exercises passed", ""]
        if g.status.startswith("error"):
            lines += [f"The notebook could not be graded: {g.status[len('error: '):]}.", ""]
        lines += [*g.events, ""] if g.events else []
        if g.cell_errors:
            lines += ["Errors raised by your notebook's cells:", ""]
            lines += [f"- cell {e['cell']} (`{e['source']}`): {e['ename']}"
                      + (f": {e['evalue']}" if e["evalue"] else "") for e in g.cell_errors[:10]]
            lines.append("")
        for name in g.exercises:
            r = g.results.get(name)
            if r is None:
                lines += [f"### {name}: NOT GRADED", "",
                          "It could not be checked (see above).", ""]
                continue
            lines += [f"### {name}: {'PASSED' if r.get('passed') else 'FAILED'}", ""]
            if r.get("diagnosis") and r["diagnosis"] not in r.get("report", ""):
                lines += [f"Diagnosis: {r['diagnosis']}", ""]
            lines += ["```text", str(r.get("report", "")).replace("```", "'''"), "```", ""]
    return "\n".join(lines).rstrip() + "\n"


def summary_table(graded: list[Graded]) -> str:
    """A short table: student, lesson, score, status."""
    rows = [("student", "lesson", "score", "status")]
    rows += [(g.student, g.lesson, f"{g.score}/{g.max_score}", g.status) for g in graded]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}"
                     for r in rows)


# ------------------------------------------------------------------------------ grade
def grade(source: str | os.PathLike, submissions: str | os.PathLike, out: str | os.PathLike,
          timeout: float = 120.0, jobs: int = 1, cell_timeout: float | None = None,
          memory_limit: int = 4096,
          progress: Callable[[str], None] | None = None) -> list[Graded]:
    """Grade every submission of ``submissions`` against the lessons of ``source``.

    ``timeout``: seconds for a whole notebook (kernel start and checks included);
    ``cell_timeout``: seconds for one cell (default ``timeout / 2``); ``memory_limit``: MB of
    address space per submission (0: no limit); ``jobs``: submissions run side by side;
    ``progress`` receives one line per graded submission.  Writes ``out`` (CSV) and
    ``feedback/<student>.md`` next to it; returns the gradings sorted by student and lesson.
    """
    if not timeout > 0:
        raise CourseError(f"--timeout must be positive, got {timeout:g}")
    if cell_timeout is not None and not cell_timeout > 0:
        raise CourseError(f"--cell-timeout must be positive, got {cell_timeout:g}")
    if jobs < 1:
        raise CourseError(f"--jobs must be at least 1, got {jobs}")
    if memory_limit < 0:
        raise CourseError(f"--memory-limit must be 0 (none) or positive, got {memory_limit}")
    source, submissions, out = Path(source), Path(submissions), Path(out)
    if not source.exists():
        raise CourseError(f"solutions not found: {source}")
    if not submissions.is_dir():
        raise CourseError(f"submissions folder not found: {submissions}")
    if submissions.resolve() in out.resolve().parents:
        raise CourseError(f"--out {out} is inside the submissions folder {submissions}: "
                          "write the grades elsewhere")
    if out.is_dir():
        raise CourseError(f"--out {out} is a folder: give the CSV file's name")
    lessons = find_lessons(source)
    subs = find_submissions(submissions, lessons)
    if not subs:
        raise CourseError(f"no submissions found in {submissions} (expected "
                          f"{submissions}/<student>/<lesson>.ipynb)")
    todo = [s for s in subs if lessons[s.lesson].exercises]
    if not todo:
        raise CourseError(f"no exercises to grade: the lessons submitted "
                          f"({', '.join(sorted({s.lesson for s in subs}))}) define none of "
                          "ffnn.exercises' functions in their solution cells")
    if progress and len(todo) < len(subs):
        n = len(subs) - len(todo)
        progress(f"skipping {n} submission{'s' if n > 1 else ''} of lessons without exercises")

    runner = _Runner(timeout, cell_timeout, memory_limit)
    graded: list[Graded] = []
    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        futures = [pool.submit(_safely, runner, s, lessons[s.lesson]) for s in todo]
        for k, future in enumerate(as_completed(futures), 1):
            g = future.result()
            graded.append(g)
            if progress:
                progress(f"[{k}/{len(todo)}] {g.student}/{g.lesson}: {g.score}/{g.max_score} "
                         f"{g.status} ({g.seconds:.1f} s)")
    except BaseException:
        runner.stop()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()
    graded.sort(key=lambda g: (g.student, g.lesson))

    order = [e for lesson in lessons.values() for e in lesson.exercises]
    columns = [e for e in dict.fromkeys(order) if any(e in g.exercises for g in graded)]
    out.parent.mkdir(parents=True, exist_ok=True)
    write_csv(graded, out, columns)
    feedback = out.parent / "feedback"
    feedback.mkdir(exist_ok=True)
    for student in sorted({g.student for g in graded}):
        mine = [g for g in graded if g.student == student]
        (feedback / f"{student}.md").write_text(feedback_markdown(student, mine),
                                                encoding="utf-8")
    return graded
