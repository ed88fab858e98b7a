"""Running one submission: the child process of the grader (``python -m ffnn.course _run-one``).

The child runs in the submission's own temporary folder.  It starts a ``python3`` kernel with
nbclient, runs the student's code cells one by one (errors do not stop the run), then one more
cell that calls ``ffnn.exercises.check(name, globals()[name])`` for each exercise and prints
the results' ``to_dict()`` as one line of JSON between two random markers.  It writes what
happened as JSON to the result file the grader named.

Time: everything must end ``timeout`` seconds after the start.  A code cell may run at most
``cell_timeout`` seconds (and never into the last part of the budget, kept for the checks);
then the kernel is interrupted and the next cell runs, so a student whose cell loops forever
is still graded (status ``timeout``).  In the checking cell each exercise has its own alarm.
The grader kills the child, the kernel and every process carrying the run's token when the
child itself does not end in time.

Crashes: when the kernel dies (``os._exit``, a segfault, memory) the notebook is run again in a
new kernel without the cell that killed it (or without checking the exercise whose check
killed it), at most twice, so the other exercises are still graded (status ``crashed``).
"""

from __future__ import annotations

import copy
import json
import os
import re
import secrets
import sys
import time
from pathlib import Path
from typing import Any

MAX_KERNELS = 3  # the first run and two reruns after crashes
IOPUB_TIMEOUT = 2  # seconds nbclient waits for a cell's outputs after its reply
_TIMEOUT_ENAME = "FfnnCellTimeout"

GRADING_CELL = '''\
def _ffnn_grade_(names, root, marker, limit):
    """The grader's cell: check every exercise, print the results as one line of JSON."""
    import json
    import signal
    import sys
    import threading

    if root not in sys.path:
        sys.path.insert(0, root)
    for key in [k for k in sys.modules if k.split(".")[:2] == ["ffnn", "exercises"]]:
        del sys.modules[key]  # a fresh checker, whatever the notebook did to the old one
    from ffnn.exercises import check

    class OutOfTime(BaseException):
        pass

    def alarm(signum, frame):
        raise OutOfTime()

    use_alarm = (hasattr(signal, "setitimer")
                 and threading.current_thread() is threading.main_thread())
    if use_alarm:
        previous = signal.signal(signal.SIGALRM, alarm)
    space, results = globals(), []
    for name in names:
        print(marker + "checking " + name, flush=True)
        func = space.get(name)
        if func is None:
            problem = (name + " is not defined: the notebook defines no function called " + name
                       + " (renamed, or its cell not run?)")
        elif not callable(func):
            problem = name + " is not a function: it is a " + type(func).__name__
        else:
            problem = None
            try:
                if use_alarm:
                    signal.setitimer(signal.ITIMER_REAL, limit)
                try:
                    results.append(check(name, func).to_dict())
                finally:
                    if use_alarm:
                        signal.setitimer(signal.ITIMER_REAL, 0)
            except OutOfTime:
                problem = (name + " did not return within %.1f s (an endless loop?)" % limit)
            except KeyboardInterrupt:
                problem = name + " was interrupted: it ran out of time (an endless loop?)"
            except BaseException as exc:
                problem = ("checking " + name + " failed: " + type(exc).__name__ + ": "
                           + str(exc))
        if problem is not None:
            results.append({"name": name, "passed": False, "diagnosis": problem,
                            "report": name + ": FAILED\\n" + problem})
    if use_alarm:
        signal.signal(signal.SIGALRM, previous)
    print(marker + json.dumps(results) + marker, flush=True)


_ffnn_grade_(__ARGUMENTS__)
del _ffnn_grade_
'''


def _first_line(source: str, width: int = 60) -> str:
    for line in source.splitlines():
        if line.strip():
            line = line.strip().replace("`", "'")
            return line if len(line) <= width else line[:width - 1] + "…"
    return ""


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _limit_memory(megabytes: int) -> None:
    """Cap this process's address space (the kernel inherits the limit)."""
    if megabytes <= 0:
        return
    try:
        import resource
    except ImportError:  # not on this platform
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = megabytes * 1024 * 1024
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _stdout_text(cell: Any) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", [])
                   if o.get("output_type") == "stream" and o.get("name") == "stdout")


class _Run:
    """The state of one submission's run, over the kernels it needs."""

    def __init__(self, notebook: Path, exercises: list[str], timeout: float,
                 cell_timeout: float, pidfile: Path | None) -> None:
        self.notebook, self.exercises = notebook, exercises
        self.start = time.monotonic()
        # the own deadline comes early enough for nbclient's wait for the last outputs of an
        # interrupted cell (IOPUB_TIMEOUT) and the kernel's shutdown
        self.deadline = self.start + max(0.7 * timeout, timeout - IOPUB_TIMEOUT - 1.5)
        self.timeout, self.cell_timeout = timeout, cell_timeout
        self.reserve = max(2.0, min(10.0, timeout / 10))  # kept for the checking cell
        self.pidfile = pidfile
        self.skip_cells: set[int] = set()
        self.given: dict[str, dict] = {}  # exercises decided without checking (crashed)
        self.events: list[str] = []  # sentences for the feedback
        self.cell_errors: list[dict] = []
        self.timed_out = self.crashed = False
        self.results: list[dict] | None = None
        self.grading_incomplete: str | None = None
        self.give_up = False  # a rerun would not help

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def _client(self, nb: Any, errors: list) -> Any:
        from nbclient import NotebookClient

        def on_error(cell: Any, cell_index: int, execute_reply: dict) -> None:
            errors.append((cell_index, execute_reply.get("content", {})))

        return NotebookClient(
            nb, kernel_name="python3", allow_errors=True, interrupt_on_timeout=True,
            error_on_timeout={"ename": _TIMEOUT_ENAME, "evalue": "", "traceback": []},
            shutdown_kernel="immediate", iopub_timeout=IOPUB_TIMEOUT,
            startup_timeout=int(max(10, min(60, self.left()))),
            timeout=int(max(1, self.cell_timeout)), on_cell_error=on_error,
            resources={"metadata": {"path": str(self.notebook.parent)}})

    def _note_pid(self, client: Any) -> None:
        pid = getattr(getattr(client.km, "provisioner", None), "pid", None)
        if pid and self.pidfile is not None:
            with open(self.pidfile, "a") as fh:
                fh.write(f"{pid}\n")

    def attempt(self, original: Any) -> bool:
        """Run the notebook in a new kernel; False when the kernel died (run again)."""
        from nbclient.exceptions import DeadKernelError
        from nbformat.v4 import new_code_cell

        nb = copy.deepcopy(original)
        n_cells = len(nb.cells)
        errors: list = []
        client = self._client(nb, errors)
        current: int | None = None
        marker = f"@@ffnn-grade-{secrets.token_hex(8)}@@"
        grading = new_code_cell("")
        try:
            with client.setup_kernel():
                self._note_pid(client)
                for index in range(n_cells):
                    cell = nb.cells[index]
                    if cell.cell_type != "code" or not cell.source.strip() or \
                            index in self.skip_cells:
                        continue
                    left = self.left() - self.reserve
                    if left < 1:
                        rest = [i + 1 for i in range(index, n_cells)
                                if nb.cells[i].cell_type == "code" and i not in self.skip_cells]
                        self.timed_out = True
                        self.events.append(f"Time ran out ({self.timeout:g} s for the whole "
                                           f"notebook) before cell {rest[0]} could run "
                                           f"({_count(len(rest), 'code cell')} not run).")
                        break
                    client.timeout = int(max(1, min(self.cell_timeout, left)))
                    current, n_errors = index, len(errors)
                    client.execute_cell(cell, index)
                    if any(e[1].get("ename") == _TIMEOUT_ENAME for e in errors[n_errors:]):
                        self.timed_out = True
                        self.skip_cells.add(index)  # not again if the kernel has to restart
                        self.events.append(
                            f"Cell {index + 1} (`{_first_line(cell.source)}`) was still "
                            f"running after {client.timeout} s and was stopped (an endless "
                            "loop?).")
                todo = [e for e in self.exercises if e not in self.given]
                current = -1
                limit = round(max(1.0, min(60.0, (self.left() - 1) / max(1, len(todo)))), 1)
                root = str(Path(__file__).resolve().parents[2])
                grading.source = GRADING_CELL.replace(
                    "__ARGUMENTS__", f"{todo!r}, {root!r}, {marker!r}, {limit!r}")
                nb.cells.append(grading)
                client.timeout = int(max(1, self.left()))
                client.execute_cell(grading, n_cells)
        except DeadKernelError:
            self.crashed = True
            if current == -1:
                self._crashed_while_checking(_stdout_text(grading), marker)
            elif current is not None:
                self.skip_cells.add(current)
                self.events.append(
                    f"The Python kernel died while running cell {current + 1} "
                    f"(`{_first_line(nb.cells[current].source)}`): os._exit, a crash in compiled "
                    "code or too much memory ends the whole process.")
            else:
                self.events.append("The Python kernel died as it started.")
                self.give_up = True
            return False
        finally:
            self._collect_errors(nb, n_cells, errors)
        failed = [e[1] for e in errors if e[0] == n_cells]  # the checking cell's own error
        self._read_results(_stdout_text(grading), marker, failed[0] if failed else None)
        return True

    def _crashed_while_checking(self, text: str, marker: str) -> None:
        checking = re.findall(re.escape(marker) + r"checking (\w+)", text)
        if not checking:
            self.events.append("The Python kernel died before the exercises could be checked.")
            self.give_up = True
            return
        name = checking[-1]
        problem = (f"checking {name} killed the Python kernel (os._exit, a crash in compiled "
                   "code or too much memory in your function)")
        self.given[name] = {"name": name, "passed": False, "diagnosis": problem,
                            "report": f"{name}: FAILED\n{problem[0].upper()}{problem[1:]}."}
        self.events.append(f"The Python kernel died while checking {name}.")

    def _collect_errors(self, nb: Any, n_cells: int, errors: list) -> None:
        for index, content in errors:
            if index >= n_cells or content.get("ename") == _TIMEOUT_ENAME:
                continue
            entry = {"cell": index + 1, "source": _first_line(nb.cells[index].source),
                     "ename": content.get("ename", "Error"),
                     "evalue": " ".join(str(content.get("evalue", "")).split())[:300]}
            if entry not in self.cell_errors:
                self.cell_errors.append(entry)

    def _read_results(self, text: str, marker: str, error: dict | None) -> None:
        found = re.search(re.escape(marker) + r"(\[.*\])" + re.escape(marker), text)
        if found is None:
            if error is not None and error.get("ename") == _TIMEOUT_ENAME:
                self.timed_out = True
                self.events.append("Time ran out before all your functions could be checked.")
                self.grading_incomplete = "the checks ran out of time"
            elif error is not None:
                self.grading_incomplete = (f"the checking cell failed: {error.get('ename')}: "
                                           f"{' '.join(str(error.get('evalue')).split())[:200]}")
            else:
                self.grading_incomplete = ("the checking cell printed no results (did the "
                                           "notebook replace sys.stdout?)")
            return
        try:
            results = json.loads(found.group(1))
        except ValueError:
            self.grading_incomplete = "the checking cell printed unreadable results"
            return
        self.results = [r for r in results if isinstance(r, dict) and "name" in r]

    def outcome(self) -> dict:
        by_name = dict(self.given)
        for r in self.results or []:
            by_name.setdefault(r["name"], {
                "name": r["name"], "passed": bool(r.get("passed")),
                "diagnosis": r.get("diagnosis"), "report": str(r.get("report", ""))})
        if self.crashed:
            status = "crashed"
        elif self.timed_out:
            status = "timeout"
        elif self.grading_incomplete:
            status = f"error: {self.grading_incomplete}"
        else:
            status = "ok"
        return {"status": status, "results": [by_name[e] for e in self.exercises
                                              if e in by_name],
                "events": self.events, "cell_errors": self.cell_errors,
                "seconds": round(time.monotonic() - self.start, 2)}


def run_one(notebook: str | os.PathLike, exercises: list[str], timeout: float = 120.0,
            cell_timeout: float | None = None, memory_limit: int = 0,
            pidfile: str | os.PathLike | None = None) -> dict:
    """Run one submission (a copy in its own folder) and check its exercises.

    Returns ``{"status", "results": [to_dict() of each exercise], "events": [sentences],
    "cell_errors": [{"cell", "source", "ename", "evalue"}], "seconds"}``; ``status`` is
    ``ok``, ``timeout``, ``crashed`` or ``error: ...``.
    """
    import nbformat

    notebook = Path(notebook)
    cell_timeout = timeout / 2 if cell_timeout is None else cell_timeout
    run = _Run(notebook, list(exercises), timeout, cell_timeout,
               Path(pidfile) if pidfile else None)
    _limit_memory(memory_limit)
    try:
        nb = nbformat.read(str(notebook), as_version=4)
    except Exception as exc:
        return {**run.outcome(), "status": f"error: not a readable notebook "
                f"({type(exc).__name__}: {' '.join(str(exc).split())[:200]})"}
    try:
        for _ in range(MAX_KERNELS):
            if run.attempt(nb) or run.give_up:
                break
            if run.left() < run.reserve + 3:
                run.events.append("There was no time left to run the notebook again.")
                break
            run.events.append("The notebook was run again in a new kernel without it, to "
                              "check the rest.")
    except Exception as exc:  # the kernel did not start, nbclient failed, ...
        return {**run.outcome(), "status": f"error: the notebook could not be run "
                f"({type(exc).__name__}: {' '.join(str(exc).split())[:200]})"}
    return run.outcome()


def main(argv: list[str] | None = None) -> int:
    """``python -m ffnn.course _run-one ...``: run one submission, write the result file."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m ffnn.course",
                                     description="Internal: the grader's child process.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("_run-one", help="run one submission and write its result as JSON")
    p.add_argument("--notebook", required=True)
    p.add_argument("--exercises", required=True, help="comma-separated exercise names")
    p.add_argument("--timeout", type=float, default=120.0)
    p.add_argument("--cell-timeout", type=float)
    p.add_argument("--memory-limit", type=int, default=0, help="MB of address space, 0: none")
    p.add_argument("--pidfile")
    p.add_argument("--result", required=True)
    args = parser.parse_args(argv)
    result = run_one(args.notebook, [e for e in args.exercises.split(",") if e],
                     args.timeout, args.cell_timeout, args.memory_limit, args.pidfile)
    tmp = Path(args.result + ".tmp")
    tmp.write_text(json.dumps(result))
    tmp.replace(args.result)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
