"""One ffnn process per run directory: the lock file, stale locks, and what a failed run leaves."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from ffnn import _runlock
from ffnn._runlock import LOCK_NAME, RunInUse, acquire, read_owner

pytest.importorskip("pydantic")
pytest.importorskip("matplotlib")

from ffnn.cli import main  # noqa: E402  (after the skips: the CLI needs pydantic)

ENV = {**os.environ, "MPLBACKEND": "Agg"}


def write_lock(run, **fields):
    record = {"pid": os.getpid(), "host": socket.gethostname(), "command": "train",
              "started": "2024-05-01T12:01:02", "token": "someone-else", **fields}
    (run / LOCK_NAME).write_text(json.dumps(record))


def dead_pid() -> int:
    """The PID of a process that has exited and been reaped."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout)


# --------------------------------------------------------------------------- the lock itself
def test_lock_holds_owner_and_is_released(tmp_path):
    with acquire(tmp_path, "train") as lock:
        owner = read_owner(tmp_path)
        assert owner["pid"] == os.getpid() and owner["host"] == socket.gethostname()
        assert owner["command"] == "train" and owner["token"] == lock.token
        assert time.strptime(owner["started"], "%Y-%m-%dT%H:%M:%S")
        with pytest.raises(RunInUse, match=r"in use by another ffnn train \(pid \d+, started"):
            acquire(tmp_path, "resume")
    assert not (tmp_path / LOCK_NAME).exists()
    acquire(tmp_path, "train").release()  # free again


def test_a_live_owner_is_refused_with_its_pid_and_start(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        write_lock(tmp_path, pid=sleeper.pid)
        with pytest.raises(RunInUse) as err:
            acquire(tmp_path, "train", advice="wait for it or choose another --out")
        assert str(err.value) == (f"{tmp_path} is in use by another ffnn train (pid "
                                  f"{sleeper.pid}, started 2024-05-01 12:01:02); wait for it "
                                  "or choose another --out")
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_stale_lock_of_a_dead_process_is_taken_over_with_a_note(tmp_path):
    pid = dead_pid()
    write_lock(tmp_path, pid=pid)
    notes = []
    with acquire(tmp_path, "train", note=notes.append) as lock:
        assert lock.took_over["pid"] == pid
        assert read_owner(tmp_path)["pid"] == os.getpid()
    assert len(notes) == 1 and f"pid {pid}" in notes[0] and "no longer running" in notes[0]


def test_a_reused_pid_does_not_keep_a_stale_lock(tmp_path):
    # the recorded PID runs (it is ours) but started at another time: a different process
    write_lock(tmp_path, process_start="1")
    if _runlock._process_start(os.getpid()) is None:
        pytest.skip("process start times need /proc")
    acquire(tmp_path, "train", note=lambda _: None).release()


def test_a_lock_from_another_host_is_not_judged(tmp_path):
    write_lock(tmp_path, host="elsewhere.example", pid=dead_pid())
    with pytest.raises(RunInUse, match=r"on host elsewhere.example.*delete .*\.ffnn\.lock"):
        acquire(tmp_path, "train")


def test_an_empty_lock_file_waits_then_counts_as_stale(tmp_path):
    (tmp_path / LOCK_NAME).write_bytes(b"")  # being written right now ...
    old = time.time() - 60
    os.utime(tmp_path / LOCK_NAME, (old, old))  # ... or left by a crash a minute ago
    notes = []
    acquire(tmp_path, "train", note=notes.append).release()
    assert "empty lock file" in notes[0]


def test_release_leaves_a_lock_that_is_no_longer_ours(tmp_path):
    lock = acquire(tmp_path, "train")
    write_lock(tmp_path, token="the-new-owner")
    lock.release()
    assert read_owner(tmp_path)["token"] == "the-new-owner"


TAKEOVER = """
import sys, time
from ffnn._runlock import RunInUse, acquire
try:
    lock = acquire(sys.argv[1], "train", note=lambda _: None)
except RunInUse:
    print("refused", flush=True)
else:
    print("locked", flush=True)
    time.sleep(1.0)
    lock.release()
"""


def test_processes_racing_for_one_stale_lock_get_it_once(tmp_path):
    write_lock(tmp_path, pid=dead_pid())
    procs = [subprocess.Popen([sys.executable, "-c", TAKEOVER, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True) for _ in range(4)]
    outs = sorted(p.communicate(timeout=60)[0].strip() for p in procs)
    assert outs == ["locked", "refused", "refused", "refused"]


# --------------------------------------------------------------------------- ffnn train / resume
def test_two_trainings_started_together_into_one_folder(tmp_path):
    """Exactly one runs; the other is refused naming it; the files are the winner's."""
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "ffnn", "train", "--dataset", "moons", "--hidden", "8",
           "--epochs", "200", "--verbose", "0", "--out", str(run)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=ENV) for _ in range(2)]
    results = [(p, *p.communicate(timeout=300)) for p in procs]
    assert sorted(p.returncode for p in procs) == [0, 1], "\n".join(r[2] for r in results)
    (winner, _, _), = [r for r in results if r[0].returncode == 0]
    (_, _, err), = [r for r in results if r[0].returncode == 1]
    assert err.startswith(f"ffnn: error: {run} is in use by another ffnn train (pid "
                          f"{winner.pid}, started ")
    assert err.rstrip().endswith("wait for it or choose another --out")
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["pid"] == winner.pid and manifest["status"] == "completed"
    assert json.loads((run / "metrics.json").read_text())["epochs"] == 200
    assert not (run / LOCK_NAME).exists()


def test_resume_takes_the_same_lock(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--dataset", "blobs", "--hidden", "4", "--epochs", "2",
                 "--verbose", "0", "--out", str(run)]) == 0
    assert not (run / LOCK_NAME).exists()
    write_lock(run)  # a live process (this one) holds it
    capsys.readouterr()
    assert main(["resume", str(run), "--epochs", "4", "--verbose", "0"]) == 1
    err = capsys.readouterr().err
    assert f"{run} is in use by another ffnn train (pid {os.getpid()}" in err
    assert main(["train", "--dataset", "blobs", "--out", str(run), "--overwrite"]) == 1
    assert "in use by another ffnn train" in capsys.readouterr().err
    (run / LOCK_NAME).unlink()
    assert main(["resume", str(run), "--epochs", "4", "--verbose", "0"]) == 0, \
        capsys.readouterr().err
    assert json.loads((run / "manifest.json").read_text())["status"] == "completed"
    assert not (run / LOCK_NAME).exists()


def test_a_run_failing_before_its_first_epoch_removes_the_directory_it_created(tmp_path):
    out = tmp_path / "a" / "b" / "run"
    assert main(["train", "--dataset", "nope", "--out", str(out)]) == 1
    assert list(tmp_path.iterdir()) == []  # a/, a/b/ and run/ were all this run's
    # a folder that was there before stays, with the user's file, and without our files
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    assert main(["train", "--dataset", "nope", "--out", str(tmp_path / "mine")]) == 1
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["notes.txt"]


class Boom(RuntimeError):
    pass


def failing_callbacks(monkeypatch, *, batch=None, epoch=None, exc=Boom):
    """Make `ffnn train` fail at a batch of the first epoch or at the end of an epoch."""
    import ffnn.cli
    from ffnn.training import Callback

    class Fail(Callback):
        def on_batch_end(self, b, logs=None):
            if batch is not None and self.context.epoch == 0 and b == batch:
                raise exc("boom in the first epoch")

        def on_epoch_end(self, e, logs):
            if epoch is not None and e == epoch:
                raise exc(f"boom at epoch {e + 1}")

    real = ffnn.cli.build_callbacks
    monkeypatch.setattr(ffnn.cli, "build_callbacks", lambda cfg: [*real(cfg), Fail()])


def test_a_failure_in_the_first_epoch_leaves_nothing(tmp_path, monkeypatch, capsys):
    failing_callbacks(monkeypatch, batch=2)
    run = tmp_path / "run"
    assert main(["train", "--dataset", "blobs", "--epochs", "3", "--verbose", "0",
                 "--out", str(run)]) == 1
    assert "boom in the first epoch" in capsys.readouterr().err
    assert not run.exists()


def test_a_later_failure_keeps_the_files_marked_failed(tmp_path, monkeypatch, capsys):
    failing_callbacks(monkeypatch, epoch=1)
    run = tmp_path / "run"
    assert main(["train", "--dataset", "blobs", "--hidden", "4", "--epochs", "5",
                 "--verbose", "0", "--out", str(run)]) == 1
    err = capsys.readouterr().err
    assert "boom at epoch 2" in err and f"ffnn resume {run}" in err
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "failed: boom at epoch 2" and manifest["epochs_done"] == 2
    assert (run / "checkpoint.npz").exists() and not (run / LOCK_NAME).exists()
    monkeypatch.undo()  # the cause is gone: the run continues from its checkpoint
    assert main(["resume", str(run), "--verbose", "0"]) == 0
    assert json.loads((run / "manifest.json").read_text())["status"] == "completed"


def test_ctrl_c_raising_mid_run_releases_the_lock(tmp_path, monkeypatch):
    failing_callbacks(monkeypatch, epoch=0, exc=lambda msg: KeyboardInterrupt())
    run = tmp_path / "run"
    assert main(["train", "--dataset", "blobs", "--hidden", "4", "--epochs", "3",
                 "--verbose", "0", "--out", str(run)]) == 130
    assert json.loads((run / "manifest.json").read_text())["status"] == "interrupted"
    assert not (run / LOCK_NAME).exists()


def test_overwrite_removes_the_old_runs_files(tmp_path):
    run = tmp_path / "run"
    assert main(["train", "--dataset", "blobs", "--hidden", "4", "--epochs", "1",
                 "--verbose", "0", "--out", str(run)]) == 0
    assert (run / "confusion_matrix.png").exists()
    assert main(["train", "--dataset", "regression_1d", "--hidden", "4", "--epochs", "1",
                 "--verbose", "0", "--out", str(run), "--overwrite"]) == 0
    assert not (run / "confusion_matrix.png").exists()  # a classifier's picture, not this run's
    assert (run / "regression_fit.png").exists()


@pytest.mark.skipif(not hasattr(signal, "SIGTERM") or os.name == "nt", reason="POSIX signals")
def test_sigterm_marks_the_run_and_releases_the_lock(tmp_path):
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "ffnn", "train", "--dataset", "blobs",
                             "--n-samples", "4000", "--hidden", "128,128", "--epochs", "500",
                             "--verbose", "0", "--out", str(run)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=ENV)
    deadline = time.time() + 60
    while not (run / "checkpoint.npz").exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "failed: terminated by a signal"
    assert not (run / LOCK_NAME).exists()
