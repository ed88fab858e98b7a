"""Fuzzing model files and checkpoints: a mutated file loads equal to the original or raises
ModelFileError, never anything else, and never allocates much.

Each example takes a valid file (a small model, or a checkpoint taken mid-epoch with Adam
state, dropout generators and a history) and applies one family of mutations:

* bytes: flips, truncations, insertions, deletions anywhere in the file;
* JSON: fields replaced by wrong types, huge or negative numbers, null; keys removed or
  added; list items dropped or repeated (then the metadata member is written back, so the
  zip itself is sound);
* ``.npy`` headers: another shape, dtype or fortran_order, another header version, or text
  that is not a header at all (the data stays as it was);
* zip members: removed, renamed, duplicated, recompressed (honestly, or with a claimed size
  up to 4 GB, a wrong CRC, an unknown compression method or the encryption flag).

The oracle: a file whose array data could not have changed unnoticed (CRC-32 guards the
bytes, the headers must match the description) must load *equal* to the original: same
layers, settings and weights (and, for a checkpoint, optimiser, state, position and history).
After a JSON mutation, a file may validly describe other settings (another dropout rate, an
extra key in ``extra``), so then only the arrays must be equal.

The examples run in a fresh Python process (``python tests/test_io_fuzz.py``), which reports
how many files it loaded, in how many seconds, and its peak resident memory
(``ru_maxrss``); ``test_fuzzing_...`` asserts on those numbers.
"""

from __future__ import annotations

import copy
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ffnn
from ffnn.io import META_KEY, ModelFileError

N_MODEL = 1000  # examples per original: 1,800 mutated files in all
N_CHECKPOINT = 800
BUDGET_SECONDS = 60
BUDGET_MB = 300


# --------------------------------------------------------------------------- the originals
def _originals(folder: Path) -> tuple[bytes, bytes]:
    from ffnn.training import TrainingContext

    net = ffnn.Sequential(ffnn.Dense(3, 4, rng=0), ffnn.LeakyReLU(0.1), ffnn.Dropout(0.2),
                          ffnn.Dense(4, 2, rng=1), output="softmax")
    ffnn.save(net, folder / "model.npz", extra={"classes": ["a", "b"]})
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(12, 3)), rng.integers(0, 2, 12)
    opt = ffnn.Adam(lr=0.01)
    # (the reference step: compiling the fast path's kernels in a cold cache would count
    # ~100 MB against the loader's memory budget measured in this process)
    history = ffnn.fit(net, X, y, "ce", opt, epochs=2, batch_size=4, seed=5, verbose=0,
                       fused=False)
    ctx = TrainingContext(net, ffnn.get_loss("ce"), opt, history, seed=5, epoch=1)
    ctx.extra["fit"] = {"batch_size": 4, "shuffle": True, "target_epochs": 3}
    state = {"running": {"loss_sum": 2.5, "n": 4, "correct": 3.0, "count": 4,
                         "sums": None},
             "dropout_rng": {"2": np.random.default_rng([5, 2, 2]).bit_generator.state}}
    ffnn.io.save_checkpoint(folder / "checkpoint.npz", ctx, position=(2, 1), resume_state=state)
    return (folder / "model.npz").read_bytes(), (folder / "checkpoint.npz").read_bytes()


_DIR = tempfile.TemporaryDirectory(prefix="ffnn-fuzz-")
WORK = Path(_DIR.name)
ORIGINALS = dict(zip(("model", "checkpoint"), _originals(WORK), strict=True))


def _members(data: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return [(info.filename, zf.read(info)) for info in zf.infolist()]


def _meta(members) -> dict:
    raw = dict(members)[f"{META_KEY}.npy"]
    return json.loads(np.load(io.BytesIO(raw), allow_pickle=False).tobytes())


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


# --------------------------------------------------------------------------- a raw zip writer
@dataclass
class Entry:
    """One zip member as a hostile writer may describe it."""

    name: str
    data: bytes  # the uncompressed bytes
    method: int = zipfile.ZIP_STORED
    claimed: int | None = None  # uncompressed size in the headers (None: the true one)
    crc: int | None = None  # None: the true CRC-32
    flags: int = 0


def _zip(entries: list[Entry]) -> bytes:
    out, central = bytearray(), bytearray()
    for e in entries:
        if e.method == zipfile.ZIP_DEFLATED:
            c = zlib.compressobj(6, zlib.DEFLATED, -15)
            payload = c.compress(e.data) + c.flush()
        else:
            payload = e.data
        n = e.name.encode()
        crc = zlib.crc32(e.data) if e.crc is None else e.crc
        size = len(e.data) if e.claimed is None else e.claimed
        central += b"PK\x01\x02" + np.array(
            [20, 20, e.flags, e.method, 0, 0], "<u2").tobytes() + np.array(
            [crc, len(payload), size], "<u4").tobytes() + np.array(
            [len(n), 0, 0, 0, 0], "<u2").tobytes() + np.array([0, len(out)], "<u4").tobytes() + n
        out += b"PK\x03\x04" + np.array([20, e.flags, e.method, 0, 0], "<u2").tobytes() + \
            np.array([crc, len(payload), size], "<u4").tobytes() + \
            np.array([len(n), 0], "<u2").tobytes() + n + payload
    end = b"PK\x05\x06" + np.array([0, 0, len(entries), len(entries)], "<u2").tobytes() + \
        np.array([len(central), len(out)], "<u4").tobytes() + b"\0\0"
    return bytes(out + central + end)


# --------------------------------------------------------------------------- mutations
class Mutation:
    """A mutated file: its family ("bytes", "json", "header", "zip"), what was done, bytes."""

    def __init__(self, family: str, steps: list[str] | None = None, data: bytes = b"") -> None:
        self.family, self.steps, self.data = family, steps or [], data

    def __repr__(self) -> str:  # what hypothesis prints for a failing example
        return f"Mutation({self.family}: {'; '.join(self.steps)}; {len(self.data)} bytes)"


WRONG_VALUES = st.sampled_from([
    None, True, False, 0, -1, 1, 2, 3, 7, 2**31, 2**63, 10**30, 10**300, -10**30, 0.5, -0.5,
    1e308, -1e308, 1e-320, "", "x", "float32", "float64", "Dense", "adam", "param/0.W", [],
    [1], [3, 4], [[1]], ["a"], {}, {"a": 1}, {"shape": [1], "dtype": "float32"},
]).map(copy.deepcopy)  # a fresh copy: later mutations may change it in place


@st.composite
def byte_mutations(draw, which: str) -> Mutation:
    data = bytearray(ORIGINALS[which])
    m = Mutation("bytes")
    for _ in range(draw(st.integers(1, 3))):
        n = len(data)
        if n == 0:
            break
        near_end = draw(st.booleans())  # the zip directory sits in the last few hundred bytes
        pos = draw(st.integers(max(n - 600, 0) if near_end else 0, n - 1))
        op = draw(st.sampled_from(["flip", "flip", "truncate", "insert", "delete", "set"]))
        if op == "flip":
            data[pos] ^= draw(st.integers(1, 255))
        elif op == "set":
            data[pos:pos + 4] = draw(st.sampled_from(
                [b"\xff\xff\xff\xff", b"\0\0\0\0", b"\xff\xff\xff\x7f", b"\x00\x00\x01\x00"]))
        elif op == "truncate":
            del data[pos:]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        else:
            del data[pos:pos + draw(st.integers(1, 64))]
        m.steps.append(f"{op}@{pos}")
    m.data = bytes(data)
    return m


def _paths(node, prefix=()):
    """Every place in a JSON tree: tuples of keys and indices."""
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


@st.composite
def json_mutations(draw, which: str) -> Mutation:
    members = _members(ORIGINALS[which])
    meta = _meta(members)
    m = Mutation("json")
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(meta) if p]
        where = draw(st.sampled_from(paths))
        parent = meta
        for key in where[:-1]:
            parent = parent[key]
        key = where[-1]
        op = draw(st.sampled_from(["replace", "replace", "replace", "remove", "add", "repeat"]))
        if op == "replace":
            parent[key] = draw(WRONG_VALUES)
        elif op == "remove":
            del parent[key]
        elif op == "add" and isinstance(parent[key], dict):
            parent[key][draw(st.sampled_from(["x", "shape", "type", "config", "m"]))] = \
                draw(WRONG_VALUES)
        elif op == "add" and isinstance(parent[key], list):
            parent[key].append(draw(WRONG_VALUES))
        elif isinstance(parent, list):  # repeat a list item
            parent.insert(key, json.loads(json.dumps(parent[key])))
        m.steps.append(f"{op} {'.'.join(map(str, where))}")
    blob = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    m.data = _zip([Entry(n, _npy(blob) if n == f"{META_KEY}.npy" else d) for n, d in members])
    return m


DESCRS = ["<f4", "<f8", ">f4", ">f8", "<f2", "|u1", "<i4", "<i8", "|b1", "<c8", "|O", "<U3",
          "|V4", [("a", "<f4")], [("a", "<f4"), ("b", "<f4")], ("<f4", (2,))]
DIMS = st.sampled_from([0, 1, 2, 3, 4, 8, 24, 2**16, 2**31, 2**40, 10**12])


@st.composite
def header_mutations(draw, which: str) -> Mutation:
    members = _members(ORIGINALS[which])
    arrays = [i for i, (n, _) in enumerate(members) if n != f"{META_KEY}.npy"]
    i = draw(st.sampled_from(arrays))
    name, raw = members[i]
    fh = io.BytesIO(raw)
    version = np.lib.format.read_magic(fh)
    header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
              else np.lib.format.read_array_header_2_0)(fh)
    data = raw[fh.tell():]
    d = {"shape": header[0], "fortran_order": header[1],
         "descr": np.lib.format.dtype_to_descr(header[2])}
    m = Mutation("header", [f"{name}"])
    op = draw(st.sampled_from(["shape", "descr", "fortran", "version", "text"]))
    if op == "shape":
        d["shape"] = tuple(draw(st.lists(DIMS, max_size=3)))
    elif op == "descr":
        d["descr"] = draw(st.sampled_from(DESCRS))
    elif op == "fortran":
        d["fortran_order"] = not d["fortran_order"]
    buf = io.BytesIO()
    if op == "version":
        np.lib.format.write_array_header_2_0(buf, d)
    elif op == "text":
        text = draw(st.text(max_size=80)).encode("latin1", "replace")
        buf.write(b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text)
    else:
        np.lib.format.write_array_header_1_0(buf, d)
    m.steps.append(f"{op} -> {d}" if op != "text" else "text")
    members[i] = (name, buf.getvalue() + data)
    m.data = _zip([Entry(n, v) for n, v in members])
    return m


@st.composite
def zip_mutations(draw, which: str) -> Mutation:
    entries = [Entry(n, d) for n, d in _members(ORIGINALS[which])]
    m = Mutation("zip")
    i = draw(st.integers(0, len(entries) - 1))
    e = entries[i]
    op = draw(st.sampled_from(["remove", "rename", "duplicate", "deflate", "deflate",
                               "claim", "claim", "crc", "method", "encrypted", "reorder"]))
    if op == "remove":
        del entries[i]
    elif op == "rename":
        e.name = draw(st.sampled_from(
            [n.name for n in entries] + ["x.npy", "param/0.W", "param/9.W.npy", "", "a/../b.npy",
                                         f"{META_KEY}.npy", "opt/0.W/q.npy"]))
    elif op == "duplicate":
        entries.insert(draw(st.integers(0, len(entries))), Entry(e.name, e.data))
    elif op == "deflate":
        e.method = zipfile.ZIP_DEFLATED
    elif op == "claim":  # recompressed, claiming another (often huge) uncompressed size
        e.method = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
        e.claimed = draw(st.sampled_from([0, 1, len(e.data) - 1, len(e.data) + 1, 2**20,
                                          1_300_000_000, 2**32 - 2, 2**32 - 1]))
    elif op == "crc":
        e.crc = zlib.crc32(e.data) ^ draw(st.integers(1, 2**32 - 1))
    elif op == "method":
        e.method = draw(st.sampled_from([1, 9, 12, 14, 99]))
    elif op == "encrypted":
        e.flags = draw(st.sampled_from([0x1, 0x20, 0x40, 0x800]))
    else:
        entries.insert(draw(st.integers(0, len(entries) - 1)), entries.pop(i))
    m.steps.append(f"{op} {e.name}")
    m.data = _zip(entries)
    return m


def mutations(which: str):
    """Mutated copies of ORIGINALS[which] ("model" or "checkpoint")."""
    return st.one_of(byte_mutations(which), json_mutations(which), header_mutations(which),
                     zip_mutations(which))


# --------------------------------------------------------------------------- the oracle
def _arrays_of_net(net) -> dict:
    return {k: (v.dtype.str, v.shape, v.tobytes()) for k, v in net.parameters().items()}


def _net_description(net) -> tuple:
    return ([(type(la).__name__, la.config()) for la in net.layers], net.output)


def _arrays_of_checkpoint(ck) -> dict:
    out = {f"param/{k}": v for k, v in _arrays_of_net(ck.net).items()}
    for name, slots in ck.optimizer.state.items():
        for slot, v in slots.items():
            out[f"opt/{name}/{slot}"] = (v.dtype.str, v.shape, v.tobytes())
    return out


def _checkpoint_description(ck) -> tuple:
    opt = ck.optimizer
    return (_net_description(ck.net), opt.name, opt.config(), opt.iterations, ck.loss, ck.seed,
            ck.epoch, ck.batch, json.dumps(ck.fit_settings), json.dumps(ck.history.records),
            json.dumps(ck.resume_state))


_PATH = WORK / "mutated.npz"
_ORIGINAL_MODEL = ffnn.load(WORK / "model.npz")
_ORIGINAL_CHECKPOINT = ffnn.load_checkpoint(WORK / "checkpoint.npz")
RUNS = {"model": 0, "checkpoint": 0, "loaded": 0, "refused": 0}


def _load_or_refuse(loader, m: Mutation):
    _PATH.write_bytes(m.data)
    try:
        result = loader(_PATH)
    except ModelFileError as exc:
        assert str(_PATH) in str(exc), f"the message does not name the file: {exc}"
        RUNS["refused"] += 1
        return None
    RUNS["loaded"] += 1
    return result


def check_model_mutation(m: Mutation) -> None:
    RUNS["model"] += 1
    net = _load_or_refuse(ffnn.load, m)
    if net is not None:
        assert _arrays_of_net(net) == _arrays_of_net(_ORIGINAL_MODEL), m
        if m.family != "json":
            assert _net_description(net) == _net_description(_ORIGINAL_MODEL), m


def check_checkpoint_mutation(m: Mutation) -> None:
    RUNS["checkpoint"] += 1
    ck = _load_or_refuse(ffnn.load_checkpoint, m)
    if ck is not None:
        assert _arrays_of_checkpoint(ck) == _arrays_of_checkpoint(_ORIGINAL_CHECKPOINT), m
        if m.family != "json":
            assert _checkpoint_description(ck) == _checkpoint_description(_ORIGINAL_CHECKPOINT)
    net = _load_or_refuse(ffnn.load, m)  # the network inside a checkpoint, too
    if net is not None:
        assert _arrays_of_net(net) == _arrays_of_net(_ORIGINAL_CHECKPOINT.net), m


FUZZ = dict(deadline=None, derandomize=True, database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@settings(max_examples=N_MODEL, **FUZZ)
@given(mutations("model"))
def fuzz_model_files(m: Mutation) -> None:
    check_model_mutation(m)


@settings(max_examples=N_CHECKPOINT, **FUZZ)
@given(mutations("checkpoint"))
def fuzz_checkpoints(m: Mutation) -> None:
    check_checkpoint_mutation(m)


def _peak_rss_mb() -> float:
    """This process's peak resident memory.  On Linux VmHWM of /proc/self/status: ru_maxrss
    keeps the high-water mark across exec, so it would count the forking pytest's memory."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**10  # kB
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes vs KiB


def main() -> None:
    """Run both fuzzers in this process and print a JSON report as the last line."""
    t0 = time.perf_counter()
    fuzz_model_files()
    fuzz_checkpoints()
    report = {"files": RUNS["model"] + RUNS["checkpoint"], **RUNS,
              "seconds": round(time.perf_counter() - t0, 2), "peak_mb": round(_peak_rss_mb(), 1)}
    print(json.dumps(report))


# --------------------------------------------------------------------------- the test
def test_1800_mutated_files_load_equal_or_raise_model_file_error_within_budget():
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    r = subprocess.run([sys.executable, __file__], capture_output=True, text=True, env=env,
                       timeout=10 * BUDGET_SECONDS)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-6000:]
    report = json.loads(r.stdout.strip().splitlines()[-1])
    print(report)
    assert report["files"] >= 1000
    assert report["model"] == N_MODEL and report["checkpoint"] == N_CHECKPOINT
    assert report["loaded"] > 100 and report["refused"] > 500  # both outcomes exercised
    assert report["seconds"] < BUDGET_SECONDS, report
    assert report["peak_mb"] < BUDGET_MB, report


def test_the_mutations_round_trip_when_they_change_nothing():
    """The zip writer and the oracle themselves: an unmutated rebuild loads equal."""
    for which, check in (("model", check_model_mutation),
                         ("checkpoint", check_checkpoint_mutation)):
        rebuilt = _zip([Entry(n, d, zipfile.ZIP_DEFLATED) for n, d in _members(ORIGINALS[which])])
        before = RUNS["loaded"]
        check(Mutation("zip", ["deflate all"], rebuilt))
        assert RUNS["loaded"] > before


if __name__ == "__main__":
    main()
