"""One ffnn process per run directory: an exclusive lock file taken before anything is written.

The lock is a file created with ``O_CREAT | O_EXCL`` (atomic on local file systems: of two
processes creating it at the same moment exactly one succeeds), holding the owner's PID, host,
start time and a random token as JSON.  A lock whose owner is no longer running on this host
(killed, crashed) is stale and taken over, with a note.  Taking over happens under a second,
short-lived ``O_EXCL`` guard file and only if the lock still holds the bytes judged stale, so
two processes finding the same stale lock cannot both take it.

    with acquire(run, "train", advice="wait for it or choose another --out"):
        ...  # write the run
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import uuid
from pathlib import Path

LOCK_NAME = ".ffnn.lock"
#: a lock file still empty after this long was left by a process that died while creating it
EMPTY_GRACE = 5.0
#: a takeover guard older than this was left by a process that died while taking over
GUARD_STALE = 10.0


class RunInUse(RuntimeError):
    """Another live ffnn process holds the run directory's lock."""


class RunLock:
    """A held lock; ``release()`` (or leaving the ``with`` block) removes it if still ours."""

    def __init__(self, path: Path, token: str, took_over: dict | None = None) -> None:
        self.path = path
        self.token = token
        #: the stale owner's record when this lock was taken over (None otherwise)
        self.took_over = took_over
        self.held = True

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        owner = _read(self.path)
        if isinstance(owner, dict) and owner.get("token") == self.token:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def acquire(run: str | os.PathLike, command: str, *, advice: str = "wait for it",
            note=None) -> RunLock:
    """Lock the (existing) directory ``run`` for this process or raise ``RunInUse``.

    ``note(text)`` is told when a stale lock is taken over (default: printed to stderr).
    """
    run = Path(run)
    path = run / LOCK_NAME
    token = uuid.uuid4().hex
    record = {"pid": os.getpid(), "host": socket.gethostname(), "command": command,
              "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "token": token,
              "process_start": _process_start(os.getpid())}
    took_over = None
    for _ in range(200):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            pass
        else:
            try:
                os.write(fd, json.dumps(record).encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            return RunLock(path, token, took_over)
        try:
            seen = path.read_bytes()
            age = time.time() - path.stat().st_mtime
        except FileNotFoundError:
            continue  # released just now: try again
        owner = _parse(seen)
        if owner is None:
            if age < EMPTY_GRACE:  # its owner is writing it right now
                time.sleep(0.01)
                continue
            owner = {}
        elif _alive(owner):
            raise RunInUse(_in_use_message(run, owner, advice))
        removed = _take_over(path, seen)
        if removed:
            took_over = owner
            (note or _print_note)(_stale_message(run, owner))
        elif removed is None:  # another process is taking it over: see who wins
            time.sleep(0.01)
    raise RunInUse(f"could not lock {run}: its lock file {path} keeps changing; is another "
                   f"ffnn process starting there? {advice}")


def read_owner(run: str | os.PathLike) -> dict | None:
    """The record of the process holding ``run``'s lock (None if unlocked or unreadable)."""
    owner = _read(Path(run) / LOCK_NAME)
    return owner if isinstance(owner, dict) else None


# --------------------------------------------------------------------------- internals
def _read(path: Path):
    try:
        return _parse(path.read_bytes())
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        return None


def _parse(data: bytes):
    try:
        owner = json.loads(data.decode())
    except (UnicodeDecodeError, ValueError):
        return None
    return owner if isinstance(owner, dict) and "pid" in owner else None


def _take_over(path: Path, seen: bytes) -> bool | None:
    """Remove the stale lock if it still holds ``seen`` (True); False if it has changed
    meanwhile, None if another process is taking it over right now."""
    guard = path.with_name(path.name + ".takeover")
    try:
        fd = os.open(guard, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        try:
            if time.time() - guard.stat().st_mtime > GUARD_STALE:
                os.unlink(guard)
        except FileNotFoundError:
            pass
        return None
    try:
        try:
            if path.read_bytes() == seen:
                os.unlink(path)
                return True
        except FileNotFoundError:
            pass
        return False
    finally:
        os.close(fd)
        os.unlink(guard)


def _alive(owner: dict) -> bool:
    """Whether the lock's owner may still be running (a lock from another host: assume so)."""
    if owner.get("host") != socket.gethostname():
        return True
    try:
        pid = int(owner["pid"])
    except (TypeError, ValueError):
        return False
    if pid <= 0:
        return False
    if not _pid_running(pid):
        return False
    recorded, now = owner.get("process_start"), _process_start(pid)
    # the PID was reused by a later process: the owner itself is gone
    return not (recorded is not None and now is not None and recorded != now)


def _pid_running(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process on Windows
        import ctypes

        kernel32 = ctypes.windll.kernel32
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return ctypes.GetLastError() == 5  # access denied: it exists
        code = ctypes.c_ulong()
        kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        kernel32.CloseHandle(handle)
        return code.value == 259  # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    stat = _proc_stat(pid)
    return not (stat is not None and stat[0] == "Z")  # a zombie has finished


def _proc_stat(pid: int) -> list[str] | None:
    """The fields after the command name in /proc/<pid>/stat (Linux; None elsewhere)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2:].split()


def _process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), to detect PID reuse."""
    stat = _proc_stat(pid)
    return stat[19] if stat is not None and len(stat) > 19 else None


def _when(owner: dict) -> str:
    started = str(owner.get("started", "?"))
    today = time.strftime("%Y-%m-%d")
    return started[11:] if started.startswith(today) and len(started) > 11 else \
        started.replace("T", " ")


def _in_use_message(run: Path, owner: dict, advice: str) -> str:
    host = owner.get("host")
    where = f" on host {host}" if host != socket.gethostname() else ""
    text = (f"{run} is in use by another ffnn {owner.get('command', 'process')} "
            f"(pid {owner.get('pid')}{where}, started {_when(owner)}); {advice}")
    if where:
        text += f" (if that run is gone, delete {run / LOCK_NAME})"
    return text


def _stale_message(run: Path, owner: dict) -> str:
    if not owner:
        return f"{run}: taking over an empty lock file left by a process that died"
    return (f"{run} was locked by ffnn {owner.get('command', 'process')} (pid "
            f"{owner.get('pid')}, started {_when(owner)}), which is no longer running; "
            "taking the lock over")


def _print_note(text: str) -> None:
    print(f"ffnn: note: {text}", file=sys.stderr)
