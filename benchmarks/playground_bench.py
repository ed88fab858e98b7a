#!/usr/bin/env python
"""Playground performance (issue 14): frames per second on one core, frame size, step latency.

    .venv/bin/python benchmarks/playground_bench.py                  # full run (~3 min)
    .venv/bin/python benchmarks/playground_bench.py --quick          # smoke: < 1 min
    .venv/bin/python benchmarks/playground_bench.py --json pg.json   # also write every number

The issue's words: "At TensorFlow Playground's own pace and defaults (250 training points,
batch size 10, one epoch per animation frame) for a 2-8-8-1 tanh network, with the 100 x 100
decision grid and every neuron's grid computed for each frame, the server sustains at least 60
frames per second (a 60 Hz display) on one core, and at least 30 with 6 x 8 hidden units;
frames are compact (binary arrays, not JSON lists of floats); a click on step shows its result
in under 100 ms."

What runs:

* the real server, ``python -m ffnn.playground --no-browser --port 0``, as a subprocess pinned
  to ONE core (``sched_setaffinity`` before exec) with ``OPENBLAS_NUM_THREADS=1
  OMP_NUM_THREADS=1 FFNN_NUM_THREADS=1``; this process is the client (websockets' sync
  client), pinned to the other core when there are two.  The client configures the network,
  plays, acknowledges every frame the moment it arrives (the server keeps at most
  ``protocol.WINDOW`` frames unacknowledged) and counts frames over ``--seconds`` after a
  warm-up.  Rounds interleave 2-8-8-1 and 2-(8x6)-1; the figures are medians over rounds;
* for reference, the same networks driven in-process (``Session.advance()`` in a loop, in a
  child process pinned to the server's core with the same thread limits), so the socket's and
  the event loop's share is visible, with a breakdown of one frame's work;
* compactness: a frame's bytes against the same frame as JSON lists of floats;
* step latency: over the socket (``step`` sent -> frame received) and in a real browser
  (Chromium via Playwright: click on ``[data-testid=step]`` -> the ``[data-testid=epoch]``
  counter shows the next number, timed in the page with ``performance.now()``).

The machine this was written on has 2 cores and is shared: every timed window records the CPU
that other processes used meanwhile, and the report gives medians.  See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import platform
import re
import statistics
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
from machine import blas_info, cpu_model  # noqa: E402

SUMMARY_HEADER = "== issue 14 performance targets =="

#: TF Playground's pace and defaults: 500 points, half for training (250), batch 10, tanh
BASE_CONFIG = {"dataset": "circle", "activation": "tanh", "batch_size": 10, "train_ratio": 50,
               "n_samples": 500, "speed": 1}
NETWORKS = {"2-8-8-1": [8, 8], "2-(8x6)-1": [8, 8, 8, 8, 8, 8]}
TARGET_FPS = {"2-8-8-1": 60.0, "2-(8x6)-1": 30.0}
TARGET_STEP_MS = 100.0
THREAD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "FFNN_NUM_THREADS": "1",
              "MKL_NUM_THREADS": "1"}
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"]
CHROMIUM = "/usr/bin/chromium"


def _log(*args: Any) -> None:
    print(*args, flush=True)


def _median(xs: list[float]) -> float:
    xs = [x for x in xs if x is not None and math.isfinite(x)]
    return statistics.median(xs) if xs else math.nan


def _p95(xs: list[float]) -> float:
    xs = sorted(x for x in xs if x is not None and math.isfinite(x))
    if not xs:
        return math.nan
    # linear interpolation between closest ranks (numpy's default)
    pos = 0.95 * (len(xs) - 1)
    lo = int(math.floor(pos))
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _fmt(x: float | None, spec: str = ".1f") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return format(x, spec)


def config_for(hidden: list[int]) -> dict:
    return {**BASE_CONFIG, "hidden": list(hidden)}


# =========================================================================== environment
def cores() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:
        return list(range(os.cpu_count() or 1))


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                             capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=REPO,
                               capture_output=True, text=True, timeout=10)
        return out.stdout.strip() + ("+dirty(src)" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def environment() -> dict:
    import numpy as np

    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "cores": len(cores()),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": blas_info(),
        "platform": platform.platform(),
        "commit": git_commit(),
    }


# =========================================================================== CPU accounting
_TICK = 1.0 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.01


def _machine_busy() -> float:
    """CPU seconds the whole machine has been busy (all but idle and iowait)."""
    try:
        with open("/proc/stat") as fh:
            f = [int(x) for x in fh.readline().split()[1:]]
    except OSError:
        return math.nan
    return (sum(f[:8]) - f[3] - f[4]) * _TICK


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) of process ``pid``."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return math.nan
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * _TICK


class CpuWindow:
    """CPU used during a timed window by the server, by this process and by everyone else."""

    def __init__(self, server_pid: int | None) -> None:
        self.server_pid = server_pid

    def __enter__(self) -> CpuWindow:
        self.w0 = time.perf_counter()
        self.m0 = _machine_busy()
        self.s0 = _proc_cpu(self.server_pid) if self.server_pid else 0.0
        t = os.times()
        self.c0 = t.user + t.system
        return self

    def __exit__(self, *exc) -> None:
        wall = time.perf_counter() - self.w0
        machine = _machine_busy() - self.m0
        server = (_proc_cpu(self.server_pid) - self.s0) if self.server_pid else 0.0
        t = os.times()
        client = t.user + t.system - self.c0
        self.wall = wall
        self.server_share = server / wall if wall > 0 else math.nan
        self.client_share = client / wall if wall > 0 else math.nan
        self.others_share = max(0.0, machine - server - client) / wall if wall > 0 else math.nan


# =========================================================================== the server
class Server:
    """``python -m ffnn.playground --no-browser --port 0`` pinned to one core."""

    URL_RE = re.compile(r"ffnn playground: (http://\S+/)")

    def __init__(self, core: int | None, timeout: float = 60.0) -> None:
        env = {**os.environ, **THREAD_ENV, "PYTHONUNBUFFERED": "1"}
        src = str(REPO / "src")
        env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH")
                                   else "")

        def pin() -> None:  # runs in the child between fork and exec
            if core is not None:
                os.sched_setaffinity(0, {core})

        self.core = core
        self.stderr_lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ffnn.playground", "--no-browser", "--port", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO,
            preexec_fn=pin,  # before any thread of this process runs
        )
        self.pid = self.proc.pid
        found: list[str] = []
        ready = threading.Event()

        def read_stdout() -> None:
            for line in self.proc.stdout:
                m = self.URL_RE.search(line)
                if m and not found:
                    found.append(m.group(1))
                    ready.set()
            ready.set()

        def read_stderr() -> None:
            for line in self.proc.stderr:
                self.stderr_lines.append(line.rstrip())
                del self.stderr_lines[:-50]

        threading.Thread(target=read_stdout, daemon=True).start()
        threading.Thread(target=read_stderr, daemon=True).start()
        if not ready.wait(timeout) or not found:
            self.stop()
            raise RuntimeError("the playground server did not print its URL; stderr:\n"
                               + "\n".join(self.stderr_lines[-20:]))
        self.url = found[0]
        self.ws_url = "ws://" + self.url.split("://", 1)[1] + "ws"
        # the URL is printed before uvicorn listens: wait until it answers
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(self.url + "api/health", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the playground server did not answer /api/health; "
                                   "stderr:\n" + "\n".join(self.stderr_lines[-20:]))
            time.sleep(0.05)
        try:
            self.affinity = sorted(os.sched_getaffinity(self.pid))
        except (AttributeError, OSError):
            self.affinity = []

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


# =========================================================================== socket client
def frame_header(message: bytes) -> tuple[dict, int]:
    """(header, header bytes incl. the length word and padding) of a binary message."""
    (n,) = struct.unpack_from("<I", message, 0)
    return json.loads(message[4:4 + n].decode()), 4 + n


class Client:
    """One tab, as a Python websockets client."""

    def __init__(self, ws_url: str, timeout: float = 30.0) -> None:
        from websockets.sync.client import connect

        self.timeout = timeout
        # websockets wants its sync connection entered as a context manager
        self.ws = connect(ws_url, max_size=None, open_timeout=timeout, compression=None)
        self.ws.__enter__()
        hello = self.recv_json()
        if hello.get("type") != "hello":
            raise RuntimeError(f"the first message is not hello: {hello}")
        self.hello = hello
        self.acked = 0

    def recv(self, timeout: float | None = None):
        return self.ws.recv(timeout=self.timeout if timeout is None else timeout)

    def recv_json(self) -> dict:
        m = self.recv()
        if isinstance(m, bytes):
            raise RuntimeError("expected a JSON message, got a binary one")
        return json.loads(m)

    def send(self, msg: dict) -> None:
        self.ws.send(json.dumps(msg))

    def ack(self, seq: int) -> None:
        self.send({"type": "ack", "seq": seq})
        self.acked = seq

    def configure(self, config: dict) -> tuple[dict, bytes]:
        """Send a config; returns (state, the first frame)."""
        self.send({"type": "config", "config": config})
        state = None
        while True:
            m = self.recv()
            if isinstance(m, str):
                msg = json.loads(m)
                if msg["type"] == "state":
                    state = msg
                elif msg["type"] == "error":
                    raise RuntimeError(f"the server refused the config: {msg['message']}")
                continue
            head, _ = frame_header(m)
            if head.get("type") == "frame" and state is not None:
                self.ack(head["seq"])
                return state, m

    def pause_and_drain(self) -> None:
        self.send({"type": "pause"})
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            m = self.recv()
            if isinstance(m, bytes):
                head, _ = frame_header(m)
                if head.get("type") == "frame":
                    self.ack(head["seq"])
                continue
            msg = json.loads(m)
            if msg.get("type") == "status" and not msg.get("playing"):
                return
        raise RuntimeError("no status after pause")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ws.__exit__(None, None, None)


def socket_fps(server: Server, name: str, hidden: list[int], seconds: float,
               warmup: float) -> dict:
    """Play for warmup + seconds, ack every frame on receipt; figures over the last `seconds`."""
    c = Client(server.ws_url)
    try:
        state, first = c.configure(config_for(hidden))
        sizes = state["network"]["sizes"]
        c.send({"type": "play"})
        times, seqs, epochs, ms, lengths, head_bytes = [], [], [], [], [], []
        non_binary_frames = 0
        t_play = time.perf_counter()
        t_start = t_play + warmup
        t_end = t_start + seconds
        cpu = CpuWindow(server.pid)
        measuring = False
        while True:
            m = c.recv()
            now = time.perf_counter()
            if isinstance(m, str):
                msg = json.loads(m)
                if msg.get("type") == "frame":
                    non_binary_frames += 1
                if msg.get("type") == "error":
                    raise RuntimeError(f"server error while playing: {msg.get('message')}")
                continue
            head, hb = frame_header(m)
            if head.get("type") != "frame":
                continue
            c.ack(head["seq"])
            if not measuring and now >= t_start:
                measuring = True
                cpu.__enter__()
            if measuring:
                times.append(now)
                seqs.append(head["seq"])
                epochs.append(head["epoch"])
                ms.append(head.get("ms", math.nan))
                lengths.append(len(m))
                head_bytes.append(hb)
            if now >= t_end:
                break
        cpu.__exit__(None, None, None)
        c.pause_and_drain()
    finally:
        c.close()
    span = times[-1] - times[0] if len(times) > 1 else math.nan
    intervals = [(b - a) * 1e3 for a, b in zip(times, times[1:], strict=False)]
    n = len(times) - 1  # frames completed within the span
    fps = n / span if span and span > 0 else math.nan
    eps = (epochs[-1] - epochs[0]) / span if span and span > 0 else math.nan
    _, arrays_info = frame_layout(first)
    return {
        "network": name, "sizes": sizes, "frames": n, "seconds": span, "fps": fps,
        "epochs_per_s": eps, "interval_median_ms": _median(intervals),
        "interval_p95_ms": _p95(intervals), "server_ms_median": _median(ms),
        "server_ms_p95": _p95(ms), "frame_bytes": int(_median(lengths)),
        "header_bytes": int(_median(head_bytes)), "arrays": arrays_info,
        "non_binary_frames": non_binary_frames,
        "server_cpu_share": cpu.server_share, "client_cpu_share": cpu.client_share,
        "others_cpu_share": cpu.others_share,
    }


def frame_layout(message: bytes) -> tuple[dict, list[dict]]:
    head, _ = frame_header(message)
    return head, [{"name": a["name"], "dtype": a["dtype"], "shape": a["shape"],
                   "nbytes": a["nbytes"]} for a in head.get("arrays", [])]


# =========================================================================== compactness
def json_equivalent(message: bytes) -> dict:
    """The same frame as one JSON text message with every array as lists of floats.

    uint8 pictures become the float values they stand for (``lo + q (hi - lo) / 255`` with
    the frame's ranges), float32 arrays their values; both as Python floats (``json.dumps``'
    repr).  A second figure rounds every value to 4 decimals: a generous JSON encoder."""
    import numpy as np

    from ffnn.playground import protocol as P

    head, arrays = P.decode(message)
    values: dict[str, Any] = {}
    out_range = arrays.get("output_range", np.array([0.0, 1.0], dtype=np.float32))
    neuron_range = arrays.get("neuron_range")
    for name, a in arrays.items():
        if name == "output" and a.dtype == np.uint8:
            lo, hi = float(out_range[0]), float(out_range[1])
            v = lo + a.astype(np.float64) * ((hi - lo) / 255.0)
        elif name == "neurons" and a.dtype == np.uint8 and neuron_range is not None:
            lo = neuron_range[:, 0].astype(np.float64)[:, None, None]
            hi = neuron_range[:, 1].astype(np.float64)[:, None, None]
            v = lo + a.astype(np.float64) * ((hi - lo) / 255.0)
        else:
            v = a.astype(np.float32).astype(np.float64)
        values[name] = v
    meta = {k: v for k, v in head.items() if k != "arrays"}
    full = json.dumps({**meta, **{k: v.tolist() for k, v in values.items()}},
                      separators=(",", ":"))
    rounded = json.dumps({**meta, **{k: np.round(v, 4).tolist() for k, v in values.items()}},
                         separators=(",", ":"))
    n_values = int(sum(v.size for v in values.values()))
    return {"binary_bytes": len(message), "json_bytes": len(full.encode()),
            "json_4dp_bytes": len(rounded.encode()), "values": n_values,
            "ratio": len(full.encode()) / len(message),
            "ratio_4dp": len(rounded.encode()) / len(message),
            "dtypes": sorted({a.dtype.name for a in arrays.values()})}


# =========================================================================== step latency
def socket_step(server: Server, hidden: list[int], clicks: int) -> dict:
    """Time from sending ``step`` to the frame, and to the whole answer (frame, trace, status)."""
    c = Client(server.ws_url)
    to_frame, to_trace, to_status, server_ms = [], [], [], []
    try:
        c.configure(config_for(hidden))
        for _ in range(2):  # warm-up clicks (the first trace builds its arrays)
            _step_once(c)
        for _ in range(clicks):
            f, t, s, ms = _step_once(c)
            to_frame.append(f)
            to_trace.append(t)
            to_status.append(s)
            server_ms.append(ms)
            time.sleep(0.02)
    finally:
        c.close()
    return {"clicks": clicks, "frame_median_ms": _median(to_frame), "frame_p95_ms": _p95(to_frame),
            "trace_median_ms": _median(to_trace), "status_median_ms": _median(to_status),
            "status_p95_ms": _p95(to_status), "server_ms_median": _median(server_ms)}


def _step_once(c: Client) -> tuple[float, float, float, float]:
    t0 = time.perf_counter()
    c.send({"type": "step"})
    t_frame = t_trace = math.nan
    ms = math.nan
    while True:
        m = c.recv()
        now = time.perf_counter()
        if isinstance(m, bytes):
            head, _ = frame_header(m)
            if head.get("type") == "frame":
                t_frame = now
                ms = head.get("ms", math.nan)
                c.ack(head["seq"])
            elif head.get("type") == "trace":
                t_trace = now
            continue
        msg = json.loads(m)
        if msg.get("type") == "error":
            raise RuntimeError(f"server error on step: {msg.get('message')}")
        if msg.get("type") == "status":
            return ((t_frame - t0) * 1e3, (t_trace - t0) * 1e3, (now - t0) * 1e3, ms)


STEP_JS = """
async ([timeoutMs, settleMs]) => {
  const ep = document.querySelector('[data-testid=epoch]');
  const btn = document.querySelector('[data-testid=step]');
  const read = () => parseInt((ep.textContent || '').trim(), 10);
  const before = read();
  // main-thread tasks over 50 ms while the click is answered (the page's own drawing)
  const longTasks = [];
  let lto = null;
  try {
    lto = new PerformanceObserver((l) => {
      for (const e of l.getEntries()) longTasks.push(e.duration);
    });
    lto.observe({type: 'longtask'});
  } catch (e) { lto = null; }
  const t00 = performance.now();
  const result = await new Promise((resolve) => {
    let done = false, t0 = 0, poll = 0, timer = 0;
    let obs = null;
    const finish = (r) => {
      done = true; if (obs) obs.disconnect(); clearInterval(poll); clearTimeout(timer);
      resolve(r);
    };
    const check = () => {
      if (done) return;
      const now = read();
      if (Number.isFinite(now) && now !== before) {
        const t1 = performance.now();
        done = true; if (obs) obs.disconnect(); clearInterval(poll); clearTimeout(timer);
        // the next animation frame after the change: the number is painted right after it
        requestAnimationFrame(() => resolve({shown: t1 - t0, frame: performance.now() - t0,
                                             before: before, after: now}));
      }
    };
    obs = new MutationObserver(check);
    obs.observe(ep, {childList: true, characterData: true, subtree: true});
    poll = setInterval(check, 1);
    timer = setTimeout(() => finish({timeout: true, before: before}), timeoutMs);
    t0 = performance.now();
    btn.click();
  });
  const rest = settleMs - (performance.now() - t00);
  if (rest > 0) await new Promise((r) => setTimeout(r, rest));
  if (lto) { for (const e of lto.takeRecords()) longTasks.push(e.duration); lto.disconnect(); }
  result.longTasks = longTasks;
  return result;
}
"""


def browser_step(server: Server, hidden: list[int], clicks: int,
                 ready_timeout: float = 30.0) -> dict:
    """Chromium opens the page, waits for ``body.dataset.ready == "1"``, clicks step."""
    if not Path(CHROMIUM).exists():
        return {"status": f"n/a (no browser at {CHROMIUM})"}
    try:
        from playwright.sync_api import Error as PWError
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        return {"status": f"n/a (playwright not installed: {exc})"}
    fragment = "&".join(f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}"
                        for k, v in config_for(hidden).items())
    url = f"{server.url}#{fragment}"
    console: list[str] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
                page.on("console", lambda m: console.append(f"{m.type}: {m.text}")
                        if m.type == "error" else None)
                page.goto(url, wait_until="load", timeout=ready_timeout * 1e3)
                try:
                    page.wait_for_function('document.body.dataset.ready === "1"',
                                           timeout=ready_timeout * 1e3)
                except PWError:
                    return {"status": "n/a (page not ready: document.body.dataset.ready never "
                                      f"became \"1\" within {ready_timeout:.0f} s"
                                      + (f"; {console[-1]}" if console else "") + ")"}
                missing = [t for t in ("step", "epoch")
                           if page.query_selector(f"[data-testid={t}]") is None]
                if missing:
                    return {"status": "n/a (page not ready: no element with data-testid "
                                      + ", ".join(missing) + ")"}
                page.wait_for_timeout(300)
                in_force = page.evaluate(
                    "() => { const p = window.ffnnPlayground; "
                    "return p && p.config ? p.config.hidden : null; }")
                shown, frame, longest, timeouts, wrong = [], [], [], 0, 0
                for i in range(clicks + 2):  # two warm-up clicks
                    # settle 400 ms per click: the trace panel renders, the page goes idle
                    r = page.evaluate(STEP_JS, [5000, 400])
                    if r.get("timeout"):
                        timeouts += 1
                    elif i >= 2:
                        shown.append(r["shown"])
                        frame.append(r["frame"])
                        longest.append(max(r.get("longTasks") or [0.0]))
                        if r["after"] != r["before"] + 1:
                            wrong += 1
                    page.wait_for_timeout(50)
                version = browser.version
            finally:
                browser.close()
    except PWError as exc:
        return {"status": f"n/a (browser failed: {str(exc).splitlines()[0]})"}
    if not shown:
        return {"status": f"n/a (page not ready: the epoch counter never changed after a step "
                          f"click; {timeouts} timeouts)"}
    return {"status": "ok", "clicks": len(shown), "shown_median_ms": _median(shown),
            "shown_p95_ms": _p95(shown), "frame_median_ms": _median(frame),
            "frame_p95_ms": _p95(frame), "longest_task_median_ms": _median(longest),
            "longest_task_max_ms": max(longest) if longest else math.nan,
            "timeouts": timeouts, "not_plus_one": wrong,
            "hidden_in_force": in_force, "chromium": version,
            "console_errors": console[-5:]}


# =========================================================================== in-process child
def inprocess_child(hidden_sets: list[list[int]], seconds: float, warmup: float) -> dict:
    """Runs in a child pinned to one core with 1-thread BLAS: Session.advance() per second."""
    import numpy as np

    from ffnn.playground import protocol as P
    from ffnn.playground.session import Session

    out = {}
    for hidden in hidden_sets:
        s = Session(config_for(hidden))
        t_end = time.perf_counter() + warmup
        while time.perf_counter() < t_end:
            s.advance()
        n, ms = 0, []
        t0 = time.perf_counter()
        t_end = t0 + seconds
        while True:
            a = time.perf_counter()
            s.advance()
            ms.append((time.perf_counter() - a) * 1e3)
            n += 1
            if time.perf_counter() >= t_end:
                break
        span = time.perf_counter() - t0
        parts: dict[str, float] = {}
        with contextlib.suppress(Exception):  # private pieces: information only
            reps = max(10, min(100, int(n / max(span, 1e-9) * 0.5)))

            def timed(fn, reps=reps) -> float:
                ts = []
                for _ in range(reps):
                    a = time.perf_counter()
                    fn()
                    ts.append((time.perf_counter() - a) * 1e3)
                return float(np.median(ts))

            arrays = s.pictures()
            parts = {"epoch_ms": timed(s._epoch), "metrics_ms": timed(s._measure),
                     "pictures_ms": timed(s.pictures),
                     "encode_ms": timed(lambda arrays=arrays: P.encode("frame", {"seq": 1},
                                                                       arrays))}
        out[str(hidden)] = {"frames": n, "seconds": span, "fps": n / span,
                            "advance_median_ms": float(np.median(ms)), "parts": parts}
    return {"results": out, "blas": blas_info()}


def run_inprocess(core: int | None, hidden_sets: list[list[int]], seconds: float,
                  warmup: float) -> dict:
    """The child pins itself (this process has threads by now: no preexec_fn)."""
    env = {**os.environ, **THREAD_ENV}
    src = str(REPO / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    spec = {"hidden": hidden_sets, "seconds": seconds, "warmup": warmup, "core": core}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--_inprocess-child", json.dumps(spec)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError("in-process child failed:\n" + proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


# =========================================================================== report
def print_fps(results: dict, inproc: dict) -> None:
    _log("\n== server frames per second, one core (median over rounds) ==")
    _log("frames streamed over the socket; every frame acknowledged on receipt; the server "
         "pinned to one core, BLAS 1 thread; server ms = the frame header's ms (training + "
         "pictures); outside = interval - server ms (encoding, event loop, socket, ack)")
    cols = ("network", "fps", "epochs/s", "interval med", "interval p95", "server ms",
            "outside", "frame bytes", "in-process fps")
    _log("{:<11} {:>7} {:>9} {:>13} {:>13} {:>10} {:>8} {:>12} {:>15}".format(*cols))
    for name, rounds in results.items():
        fps = _median([r["fps"] for r in rounds])
        ip = inproc.get(name, [])
        ip_fps = _median([r["fps"] for r in ip])
        # per round: the frame interval minus the server's own ms (training + pictures): the
        # encoding, the event loop, the worker-thread hand-off, the socket and the ack
        outside = _median([r["interval_median_ms"] - r["server_ms_median"] for r in rounds])
        _log("{:<11} {:>7} {:>9} {:>10} ms {:>10} ms {:>7} ms {:>5} ms {:>12,} {:>15}".format(
            name, _fmt(fps), _fmt(_median([r["epochs_per_s"] for r in rounds])),
            _fmt(_median([r["interval_median_ms"] for r in rounds]), ".2f"),
            _fmt(_median([r["interval_p95_ms"] for r in rounds]), ".2f"),
            _fmt(_median([r["server_ms_median"] for r in rounds]), ".2f"), _fmt(outside, ".2f"),
            int(_median([r["frame_bytes"] for r in rounds])), _fmt(ip_fps)))
    _log("\nper round (fps; server CPU = share of its one core the server used; others = "
         "cores used by other processes meanwhile):")
    for name, rounds in results.items():
        cells = [f"{_fmt(r['fps'])} (server CPU {_fmt(100 * r['server_cpu_share'], '.0f')}%, "
                 f"others {_fmt(r['others_cpu_share'], '.2f')})" for r in rounds]
        _log(f"  {name:<11} " + "; ".join(cells))
        ip = inproc.get(name, [])
        if ip:
            adv = _median([r["advance_median_ms"] for r in ip])
            _log(f"  {'':<11} in-process: " + ", ".join(_fmt(r["fps"]) for r in ip)
                 + f" fps; advance() median {_fmt(adv, '.2f')} ms")
    _log("\nwhere one frame's time goes (in-process, medians, ms; information only):")
    _log("{:<11} {:>10} {:>16} {:>16} {:>10} {:>10}".format(
        "network", "epoch", "metrics (losses)", "pictures (grids)", "encode", "sum"))
    for name, ip in inproc.items():
        parts = [r["parts"] for r in ip if r.get("parts")]
        if not parts:
            _log(f"{name:<11} n/a")
            continue
        vals = [_median([p[k] for p in parts]) for k in ("epoch_ms", "metrics_ms",
                                                         "pictures_ms", "encode_ms")]
        _log("{:<11} {:>10} {:>16} {:>16} {:>10} {:>10}".format(
            name, *(_fmt(v, ".2f") for v in vals), _fmt(sum(vals), ".2f")))


def print_sizes(results: dict, compact: dict) -> None:
    _log("\n== frame size and compactness ==")
    for name, rounds in results.items():
        r = rounds[-1]
        arrays = r["arrays"]
        arr_bytes = sum(a["nbytes"] for a in arrays)
        pad = r["frame_bytes"] - r["header_bytes"] - arr_bytes
        _log(f"{name}: {r['frame_bytes']:,} bytes = header {r['header_bytes']:,} (JSON, incl. "
             f"the 4-byte length and padding to 8) + arrays {arr_bytes:,} + alignment {pad}")
        big = sorted(arrays, key=lambda a: -a["nbytes"])
        _log("   " + ", ".join(f"{a['name']} {a['dtype']}{tuple(a['shape'])} {a['nbytes']:,}"
                                for a in big[:4])
             + (f", {len(big) - 4} more ({sum(a['nbytes'] for a in big[4:]):,} bytes)"
                if len(big) > 4 else ""))
    _log("\nthe same frames as JSON lists of floats (pictures as the float values they stand "
         "for):")
    _log("{:<11} {:>12} {:>14} {:>8} {:>18} {:>8}".format(
        "network", "binary", "JSON floats", "ratio", "JSON, 4 decimals", "ratio"))
    for name, c in compact.items():
        _log("{:<11} {:>12,} {:>14,} {:>7.1f}x {:>18,} {:>7.1f}x".format(
            name, c["binary_bytes"], c["json_bytes"], c["ratio"], c["json_4dp_bytes"],
            c["ratio_4dp"]))


def print_steps(sock: dict, browser: dict) -> None:
    _log("\n== step latency ==")
    _log(f"socket ({sock['clicks']} steps, 2-8-8-1): step sent -> frame received: median "
         f"{_fmt(sock['frame_median_ms'], '.1f')} ms, p95 {_fmt(sock['frame_p95_ms'], '.1f')} ms; "
         f"-> trace {_fmt(sock['trace_median_ms'], '.1f')} ms; -> status (whole answer) "
         f"{_fmt(sock['status_median_ms'], '.1f')} ms (p95 {_fmt(sock['status_p95_ms'], '.1f')}); "
         f"the step frame's header ms (its pictures only) {_fmt(sock['server_ms_median'], '.2f')}")
    gap = sock["status_median_ms"] - sock["trace_median_ms"]
    if gap > 30:
        _log(f"   odd: the status message trails the trace by {gap:.0f} ms (median), though the "
             "server sends it right after; ~40 ms is the signature of Nagle's algorithm meeting "
             "the receiver's delayed ACK (a server socket without TCP_NODELAY)")
    if browser.get("status") != "ok":
        _log(f"browser: {browser.get('status')}")
        return
    _log(f"browser (Chromium {browser['chromium']}, {browser['clicks']} clicks, hidden in force "
         f"{browser['hidden_in_force']}): click -> epoch counter shows the next number: median "
         f"{_fmt(browser['shown_median_ms'], '.1f')} ms, p95 "
         f"{_fmt(browser['shown_p95_ms'], '.1f')} ms; -> the next animation frame after it "
         f"(an upper bound on its paint) median {_fmt(browser['frame_median_ms'], '.1f')} ms, "
         f"p95 {_fmt(browser['frame_p95_ms'], '.1f')} ms")
    _log(f"   the page's longest main-thread task per click (its drawing; 0 = none over 50 ms): "
         f"median {_fmt(browser['longest_task_median_ms'], '.0f')} ms, max "
         f"{_fmt(browser['longest_task_max_ms'], '.0f')} ms")
    if browser["timeouts"] or browser["not_plus_one"]:
        _log(f"   odd: {browser['timeouts']} clicks timed out, {browser['not_plus_one']} did not "
             "advance the counter by exactly one")
    if browser.get("console_errors"):
        _log("   page console errors: " + " | ".join(browser["console_errors"]))


def targets(results: dict, compact: dict, sock: dict, browser: dict) -> list[dict]:
    rows = []
    for name, want in TARGET_FPS.items():
        fps = _median([r["fps"] for r in results.get(name, [])])
        rows.append({"target": f"fps {name} >= {want:.0f}", "measured": f"{_fmt(fps)} fps",
                     "value": fps,
                     "verdict": "n/a" if not math.isfinite(fps) else
                     ("PASS" if fps >= want else "FAIL")})
    binary = all(r["non_binary_frames"] == 0 for rounds in results.values() for r in rounds)
    dtypes = sorted({d for c in compact.values() for d in c["dtypes"]})
    no_float_lists = binary and set(dtypes) <= {"uint8", "float32", "int32"}
    ratio = min((c["ratio"] for c in compact.values()), default=math.nan)
    sizes = ", ".join(f"{c['binary_bytes'] / 1024:.0f} KiB" for c in compact.values())
    rows.append({"target": "frames binary (not JSON floats)",
                 "measured": f"binary ({'/'.join(dtypes)}), {sizes}; JSON floats "
                             f">= {_fmt(ratio)}x larger",
                 "value": ratio, "verdict": "PASS" if no_float_lists and ratio > 1 else "FAIL"})
    if browser.get("status") == "ok":
        v, src = browser["shown_median_ms"], "browser click -> counter"
        extra = f", p95 {_fmt(browser['shown_p95_ms'])}"
    else:
        v, src = sock["frame_median_ms"], "socket (browser n/a)"
        extra = f", p95 {_fmt(sock['frame_p95_ms'])}"
    rows.append({"target": f"step click < {TARGET_STEP_MS:.0f} ms",
                 "measured": f"{_fmt(v)} ms median{extra} ({src})", "value": v,
                 "verdict": "n/a" if not math.isfinite(v) else
                 ("PASS" if v < TARGET_STEP_MS else "FAIL")})
    return rows


def print_targets(rows: list[dict], env: dict, note: str) -> None:
    _log(f"\n{SUMMARY_HEADER}")
    w = max(len(r["target"]) for r in rows)
    m = max(len(r["measured"]) for r in rows)
    for r in rows:
        _log(f"{r['target']:<{w}}  {r['measured']:<{m}}  {r['verdict']}")
    _log(f"({note})")
    _log("\n== environment ==")
    _log(f"date {env['date']}; CPU {env['cpu']}; {env['cores']} cores; Python {env['python']}; "
         f"NumPy {env['numpy']}; commit {env['commit']}")
    for b in env.get("server_blas", []):
        _log("server-side BLAS (the in-process child, same env as the server): "
             + ", ".join(f"{k}={v}" for k, v in b.items()))
    _log(f"platform {env['platform']}")


# =========================================================================== main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="short rounds for the smoke test (< 60 s in all)")
    p.add_argument("--seconds", type=float, default=None,
                   help="counted seconds per fps window (default 5; --quick 1)")
    p.add_argument("--warmup", type=float, default=None,
                   help="seconds of play before counting (default 1; --quick 0.3)")
    p.add_argument("--rounds", type=int, default=None,
                   help="rounds, each measuring both networks (default 5; --quick 1)")
    p.add_argument("--steps", type=int, default=None,
                   help="step clicks over the socket (default 30; --quick 5)")
    p.add_argument("--clicks", type=int, default=None,
                   help="step clicks in the browser (default 20; --quick 3)")
    p.add_argument("--skip-browser", action="store_true", help="no Chromium")
    p.add_argument("--json", metavar="PATH", help="write every number to PATH")
    p.add_argument("--_inprocess-child", dest="inprocess_child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    q = args.quick
    args.seconds = args.seconds if args.seconds is not None else (1.0 if q else 5.0)
    args.warmup = args.warmup if args.warmup is not None else (0.3 if q else 1.0)
    args.rounds = args.rounds if args.rounds is not None else (1 if q else 5)
    args.steps = args.steps if args.steps is not None else (5 if q else 30)
    args.clicks = args.clicks if args.clicks is not None else (3 if q else 20)
    if args.seconds <= 0 or args.rounds < 1 or args.steps < 1 or args.clicks < 1:
        p.error("--seconds, --rounds, --steps and --clicks must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.inprocess_child:
        spec = json.loads(args.inprocess_child)
        if spec.get("core") is not None:  # before NumPy is imported
            os.sched_setaffinity(0, {spec["core"]})
        print(json.dumps(inprocess_child(spec["hidden"], spec["seconds"], spec["warmup"])))
        return 0
    t_begin = time.perf_counter()
    avail = cores()
    server_core = avail[0]
    client_core = avail[1] if len(avail) > 1 else avail[0]
    env = environment()
    os.sched_setaffinity(0, {client_core})  # Chromium, started later, inherits it
    _log("ffnn playground benchmark (issue 14)")
    _log(f"config: {json.dumps(BASE_CONFIG)}, hidden {list(NETWORKS.values())}")
    _log(f"server: python -m ffnn.playground --no-browser --port 0 on core {server_core} "
         f"({', '.join(f'{k}={v}' for k, v in THREAD_ENV.items())}); client (this process) on "
         f"core {client_core}" + ("" if len(avail) > 1 else " (only one core: shared!)"))
    _log(f"{args.rounds} rounds x {len(NETWORKS)} networks, {args.warmup:g} s warm-up + "
         f"{args.seconds:g} s counted each; {env['cores']} cores, shared machine: medians")

    results: dict[str, list[dict]] = {name: [] for name in NETWORKS}
    inproc: dict[str, list[dict]] = {name: [] for name in NETWORKS}
    compact: dict[str, dict] = {}
    with Server(server_core) as server:
        _log(f"server up at {server.url} (pid {server.pid}, affinity {server.affinity})")
        for r in range(args.rounds):
            order = list(NETWORKS.items())
            if r % 2:
                order.reverse()
            for name, hidden in order:
                res = socket_fps(server, name, hidden, args.seconds, args.warmup)
                results[name].append(res)
                _log(f"round {r + 1} {name:<10} {_fmt(res['fps']):>6} fps, interval median "
                     f"{_fmt(res['interval_median_ms'], '.2f')} ms, server ms "
                     f"{_fmt(res['server_ms_median'], '.2f')}, {res['frame_bytes']:,} B, "
                     f"server CPU {_fmt(100 * res['server_cpu_share'], '.0f')}%, others "
                     f"{_fmt(res['others_cpu_share'], '.2f')} cores")
            child = run_inprocess(server_core, list(NETWORKS.values()), args.seconds,
                                  args.warmup)
            ip = child["results"]
            env["server_blas"] = child["blas"]
            for name, hidden in NETWORKS.items():
                inproc[name].append(ip[str(hidden)])
            _log(f"round {r + 1} in-process: " + ", ".join(
                f"{name} {_fmt(ip[str(h)]['fps'])} fps" for name, h in NETWORKS.items()))
        for name, hidden in NETWORKS.items():
            c = Client(server.ws_url)
            try:
                _, frame = c.configure(config_for(hidden))
                c.send({"type": "step"})  # a frame after one epoch, like those while playing
                while True:
                    m = c.recv()
                    if isinstance(m, bytes) and frame_header(m)[0].get("type") == "frame":
                        frame = m
                    elif isinstance(m, str) and json.loads(m).get("type") == "status":
                        break
            finally:
                c.close()
            compact[name] = json_equivalent(frame)
        sock = socket_step(server, NETWORKS["2-8-8-1"], args.steps)
        if args.skip_browser:
            browser = {"status": "n/a (--skip-browser)"}
        else:
            browser = browser_step(server, NETWORKS["2-8-8-1"], args.clicks)
        if server.proc.poll() is not None:
            _log("odd: the server exited during the run; stderr:\n"
                 + "\n".join(server.stderr_lines[-20:]))

    print_fps(results, inproc)
    print_sizes(results, compact)
    print_steps(sock, browser)
    rows = targets(results, compact, sock, browser)
    elapsed = time.perf_counter() - t_begin
    print_targets(rows, env, f"fps: median of {args.rounds} round(s) of {args.seconds:g} s on a "
                             f"shared {env['cores']}-core machine; run took {elapsed:.0f} s")
    if args.json:
        data = {"environment": env, "args": {k: v for k, v in vars(args).items()
                                             if k != "inprocess_child"},
                "config": BASE_CONFIG, "networks": NETWORKS, "fps": results,
                "inprocess": inproc, "compactness": compact, "step_socket": sock,
                "step_browser": browser, "targets": rows, "elapsed_s": elapsed}
        Path(args.json).write_text(json.dumps(_finite(data), indent=1, allow_nan=False,
                                              default=str))
        _log(f"\nnumbers written to {args.json}")
    return 0


def _finite(o: Any) -> Any:
    """NaN and infinities as null, so the file is strict JSON."""
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_finite(v) for v in o]
    return o


if __name__ == "__main__":
    sys.exit(main())
