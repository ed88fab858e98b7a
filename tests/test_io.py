"""Model files: round trip, no pickle ever, clear errors for corrupt or hostile files, atomic."""

import io
import json
import os
import pickle
import signal
import struct
import subprocess
import sys
import tempfile
import time
import tracemalloc
import zipfile
import zlib

import numpy as np
import pytest

import ffnn
from ffnn.io import META_KEY, ModelFileError


@pytest.fixture
def net():
    return ffnn.Sequential(ffnn.Dense(3, 8, rng=0), ffnn.LeakyReLU(0.1), ffnn.Dropout(0.2),
                           ffnn.Dense(8, 8, rng=1), ffnn.GELU(), ffnn.Dense(8, 2, rng=2),
                           output="softmax")


def test_round_trip_gives_identical_outputs(tmp_path, net):
    X = np.random.default_rng(0).normal(size=(50, 3))
    path = tmp_path / "model.ffnn"  # any name: save writes exactly the path it is given
    ffnn.save(net, path)
    assert path.exists() and not (tmp_path / "model.ffnn.npz").exists()
    back = ffnn.load(path)
    np.testing.assert_array_equal(back.predict(X), net.predict(X))
    assert [type(la).__name__ for la in back.layers] == [type(la).__name__ for la in net.layers]
    assert back.layers[1].alpha == 0.1 and back.layers[2].p == 0.2
    assert back.output == "softmax" and back.dtype == np.float32


def test_float64_model_round_trip(tmp_path):
    net = ffnn.mlp([2, 3, 1], seed=0, dtype=np.float64)
    ffnn.save(net, tmp_path / "m.npz")
    assert ffnn.load(tmp_path / "m.npz").dtype == np.float64


def test_a_pickle_payload_never_runs(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    bad = tmp_path / "evil.npz"
    bad.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(ModelFileError, match="pickled"):
        ffnn.load(bad)
    assert not marker.exists()
    # an object array hidden inside a real .npz is refused too
    with zipfile.ZipFile(tmp_path / "evil2.npz", "w") as zf:
        buf = io.BytesIO()
        np.save(buf, np.array([Evil()], dtype=object), allow_pickle=True)
        zf.writestr("param/0.W.npy", buf.getvalue())
    with pytest.raises(ModelFileError):
        ffnn.load(tmp_path / "evil2.npz")
    assert not marker.exists()


def test_truncated_file(tmp_path, net):
    path = tmp_path / "m.npz"
    ffnn.save(net, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="truncated or corrupt"):
        ffnn.load(path)


def _rewrite(path, mutate_meta=None, mutate_arrays=None):
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(arrays.pop(META_KEY).tobytes())
    if mutate_meta:
        mutate_meta(meta)
    if mutate_arrays:
        mutate_arrays(arrays)
    blob = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with open(path, "wb") as fh:
        np.savez(fh, **{META_KEY: blob}, **arrays)


def test_wrong_shape(tmp_path, net):
    path = tmp_path / "m.npz"
    ffnn.save(net, path)

    def shrink(arrays):
        arrays["param/0.W"] = arrays["param/0.W"][:2]

    _rewrite(path, mutate_arrays=shrink)
    with pytest.raises(ModelFileError, match=r"0.W"):
        ffnn.load(path)

    def lie(meta):  # consistent description, but not what the architecture needs
        meta["arrays"]["param/0.W"]["shape"] = [2, 8]

    _rewrite(path, mutate_meta=lie)
    with pytest.raises(ModelFileError, match=r"architecture needs float32\(3, 8\)"):
        ffnn.load(path)


def test_unknown_layer_name(tmp_path, net):
    path = tmp_path / "m.npz"
    ffnn.save(net, path)
    _rewrite(path, mutate_meta=lambda m: m["layers"][1].update(type="os.system"))
    with pytest.raises(ModelFileError, match=r"unknown type 'os.system'.*allowed: .*Dense"):
        ffnn.load(path)


def test_future_format_version(tmp_path, net):
    path = tmp_path / "m.npz"
    ffnn.save(net, path)
    _rewrite(path, mutate_meta=lambda m: m.update(version=99))
    with pytest.raises(ModelFileError, match="version 99.*upgrade ffnn"):
        ffnn.load(path)


def test_not_an_ffnn_file(tmp_path):
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(ModelFileError, match="not an ffnn model"):
        ffnn.load(tmp_path / "other.npz")
    with pytest.raises(FileNotFoundError):
        ffnn.load(tmp_path / "missing.npz")


def test_nan_weights_are_refused(tmp_path, net):
    path = tmp_path / "m.npz"
    ffnn.save(net, path)

    def poison(arrays):
        arrays["param/3.b"] = arrays["param/3.b"].copy()
        arrays["param/3.b"][0] = np.nan

    _rewrite(path, mutate_arrays=poison)
    with pytest.raises(ModelFileError, match="NaN"):
        ffnn.load(path)


def test_crash_mid_save_keeps_the_previous_file(tmp_path, net, monkeypatch):
    path = tmp_path / "m.npz"
    ffnn.save(net, path)
    good = path.read_bytes()

    def exploding_savez(fh, **arrays):
        fh.write(b"PK partial garbage")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", exploding_savez)
    with pytest.raises(OSError, match="disk full"):
        ffnn.save(ffnn.mlp([3, 2], seed=1), path)
    monkeypatch.undo()
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]  # no temporary left behind
    ffnn.load(path)


def test_custom_layers_cannot_be_saved(tmp_path):
    class Mine(ffnn.Layer):
        pass

    with pytest.raises(TypeError, match="only built-in layers"):
        ffnn.save(ffnn.Sequential(ffnn.Dense(2, 2), Mine()), tmp_path / "x.npz")


def test_checkpoint_is_not_a_model_and_vice_versa(tmp_path, net):
    ffnn.save(net, tmp_path / "m.npz")
    with pytest.raises(ModelFileError, match="not a training checkpoint"):
        ffnn.load_checkpoint(tmp_path / "m.npz")


# --------------------------------------------------------------------------- hostile files
# Each test builds the file a careful user built by hand and checks that `load` refuses it
# with a ModelFileError naming the file and what is wrong, before allocating anything big.

def _members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


def _write_members(path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def _npy_header(shape, descr="<f4", fortran_order=False) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": descr, "fortran_order": fortran_order, "shape": tuple(shape)})
    return buf.getvalue()


def _meta_member(meta: dict) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    return buf.getvalue()


def _with_meta(src, dst, mutate) -> None:
    members = _members(src)
    meta = json.loads(np.load(io.BytesIO(members[f"{META_KEY}.npy"])).tobytes())
    mutate(meta)
    members[f"{META_KEY}.npy"] = _meta_member(meta)
    _write_members(dst, members)


def _raw_zip(entries) -> bytes:
    """A zip archive from (name, payload, method, crc, claimed size) entries, written byte by
    byte, so the directory can claim whatever a hostile file claims."""
    out, central = bytearray(), bytearray()
    for name, payload, method, crc, size in entries:
        n = name.encode()
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, method, 0, 0, crc,
                               len(payload), size, len(n), 0, 0, 0, 0, 0, len(out)) + n
        out += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 0, crc,
                           len(payload), size, len(n), 0) + n + payload
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries),
                      len(central), len(out), 0)
    return bytes(out + central + end)


def _stored(members: dict[str, bytes]) -> list[tuple]:
    return [(k, v, zipfile.ZIP_STORED, zlib.crc32(v), len(v)) for k, v in members.items()]


def _peak_mb(fn) -> float:
    """Peak of NumPy and Python allocations (both traced by tracemalloc) while fn runs."""
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak / 2**20


def _refused(path, match, **kwargs):
    def run():
        with pytest.raises(ModelFileError, match=match) as info:
            ffnn.load(path, **kwargs)
        assert str(path) in str(info.value)
        assert "holds pickled" not in str(info.value)  # what np.load's ValueError once said

    return run


@pytest.fixture
def saved(tmp_path, net):
    path = tmp_path / "model.npz"
    ffnn.save(net, path)
    return path


@pytest.mark.parametrize("shape", [(100_000, 100_000), (30_000, 30_000)])  # 37 GB, 3.6 GB
def test_a_huge_shape_in_an_array_header_allocates_nothing(tmp_path, saved, shape):
    members = _members(saved)
    members["param/0.W.npy"] = _npy_header(shape) + bytes(96)
    _write_members(tmp_path / "bad.npz", members)
    peak = _peak_mb(_refused(tmp_path / "bad.npz",
                             rf"array 'param/0.W' has shape \({shape[0]}, {shape[1]}\) in the "
                             r"file but its description says \(3, 8\)"))
    assert peak < 5


@pytest.mark.parametrize("d_in,d_out", [(100_000, 100_000), (30_000, 30_000)])
def test_a_huge_shape_described_consistently_is_refused_by_the_parameter_cap(
        tmp_path, saved, d_in, d_out):
    def grow(meta):
        meta["layers"][0]["config"].update(in_features=d_in, out_features=d_out)
        meta["layers"][3]["config"].update(in_features=d_out)
        meta["arrays"]["param/0.W"]["shape"] = [d_in, d_out]
        meta["arrays"]["param/0.b"]["shape"] = [d_out]
        meta["arrays"]["param/3.W"]["shape"] = [d_out, 8]

    _with_meta(saved, tmp_path / "bad.npz", grow)
    members = _members(tmp_path / "bad.npz")
    members["param/0.W.npy"] = _npy_header((d_in, d_out)) + bytes(96)
    _write_members(tmp_path / "bad.npz", members)
    peak = _peak_mb(_refused(tmp_path / "bad.npz", rf"Dense\({d_in}, {d_out}\), brings the "
                                                   r"parameters to [\d,]+, more than "
                                                   "max_params=50,000,000; nothing was allocated"))
    assert peak < 5


def test_a_header_size_must_match_the_zip_directory(tmp_path, saved):
    def grow(meta):
        meta["layers"][0]["config"].update(in_features=100_000)
        meta["arrays"]["param/0.W"]["shape"] = [100_000, 8]

    _with_meta(saved, tmp_path / "bad.npz", grow)
    members = _members(tmp_path / "bad.npz")
    members["param/0.W.npy"] = _npy_header((100_000, 8)) + bytes(96)
    _write_members(tmp_path / "bad.npz", members)
    _refused(tmp_path / "bad.npz", "more than max_params=800,000", max_params=800_000)()
    peak = _peak_mb(_refused(tmp_path / "bad.npz",
                             r"'param/0.W' needs 3,200,000 bytes for its shape and dtype but "
                             "the zip directory gives 96"))
    assert peak < 5


def test_dense_20000_by_20000_in_the_json_is_refused_before_building_anything(tmp_path, saved):
    def widen(meta):
        meta["layers"][0]["config"].update(in_features=20_000, out_features=20_000)

    _with_meta(saved, tmp_path / "bad.npz", widen)
    t0 = time.perf_counter()
    peak = _peak_mb(_refused(tmp_path / "bad.npz",
                             r"layer 0, Dense\(20000, 20000\), brings the parameters to "
                             r"400,020,000, more than max_params=50,000,000"))
    assert peak < 5 and time.perf_counter() - t0 < 1


def test_the_parameter_cap_is_configurable(saved, net, monkeypatch):
    n = sum(p.size for p in net.parameters().values())
    assert len(ffnn.load(saved, max_params=n).layers) == len(net.layers)
    _refused(saved, f"more than max_params={n - 1}", max_params=n - 1)()
    monkeypatch.setattr(ffnn.io, "MAX_PARAMS", n - 1)
    _refused(saved, f"more than max_params={n - 1}")()
    with pytest.raises(ModelFileError, match="max_params"):
        ffnn.load_checkpoint(saved)


def _bomb(header: bytes, mib: int) -> tuple[bytes, int]:
    """A raw DEFLATE stream of header + mib MiB of zeros (~1000:1), built in milliseconds:
    after a full flush the compressor starts afresh, so every MiB compresses the same."""
    z = bytes(1 << 20)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = c.compress(header + z) + c.flush(zlib.Z_FULL_FLUSH)
    again = c.compress(z) + c.flush(zlib.Z_FULL_FLUSH)
    return first + again * (mib - 1) + c.flush(), len(header) + (mib << 20)


def test_a_member_that_inflates_to_1_3_gb_is_not_inflated(tmp_path, saved):
    members = _members(saved)
    entries = _stored({k: v for k, v in members.items() if k != "param/0.W.npy"})
    stream, size = _bomb(_npy_header((1300 << 18,)), 1300)  # float32 (340,787,200,): 1.3 GiB
    path = tmp_path / "bomb.npz"
    path.write_bytes(_raw_zip([("param/0.W.npy", stream, zipfile.ZIP_DEFLATED, 0, size),
                               *entries]))
    # the directory says 1.3 GB: more than any member of a 50M-parameter file
    peak = _peak_mb(_refused(path, r"member 'param/0.W.npy' is 1,363,148,\d+ bytes, more than"))
    # with the cap raised, the header (read alone: ~100 bytes inflated) disagrees with the JSON
    peak = max(peak, _peak_mb(_refused(path, r"has shape \(340787200,\) in the file",
                                       max_params=10**9)))
    assert peak < 5


def test_a_member_whose_directory_lies_about_its_size_is_read_only_that_far(tmp_path, saved):
    members = _members(saved)
    entries = _stored({k: v for k, v in members.items() if k != "param/0.W.npy"})
    header = _npy_header((3, 8))
    stream, _ = _bomb(header, 1300)  # claims 96 bytes of data, inflates to 1.3 GB
    claimed = header + bytes(96)
    path = tmp_path / "liar.npz"
    path.write_bytes(_raw_zip([("param/0.W.npy", stream, zipfile.ZIP_DEFLATED,
                                zlib.crc32(claimed), len(claimed)), *entries]))
    loaded = []
    peak = _peak_mb(lambda: loaded.append(ffnn.load(path)))
    assert peak < 5  # only the 96 bytes the directory states are inflated (and CRC-checked)
    np.testing.assert_array_equal(loaded[0].layers[0].params["W"], np.zeros((3, 8)))
    # a wrong CRC over those bytes is caught
    path.write_bytes(_raw_zip([("param/0.W.npy", stream, zipfile.ZIP_DEFLATED, 12345,
                                len(claimed)), *entries]))
    _refused(path, "'param/0.W' is corrupt .*CRC")()


def test_a_size_beyond_what_deflate_can_reach_is_refused(tmp_path, saved):
    members = _members(saved)
    w = members.pop("param/0.W.npy")
    path = tmp_path / "ratio.npz"
    small = zlib.compressobj(9, zlib.DEFLATED, -15)
    payload = small.compress(w) + small.flush()
    path.write_bytes(_raw_zip([("param/0.W.npy", payload, zipfile.ZIP_DEFLATED, zlib.crc32(w),
                                2000 * len(payload)), *_stored(members)]))
    _refused(path, r"claims to inflate from \d+ to [\d,]+ bytes, more than DEFLATE's 1032:1")()


BAD_FIELDS = [  # (mutation of the JSON, the field the message must name)
    (lambda m: m.update(arrays="oops"),
     r"metadata field 'arrays' must be an object mapping names to \{shape, dtype\}, "
     "got a string"),
    (lambda m: m["arrays"].update({"param/0.W": "oops"}),
     r"""metadata field 'arrays\["param/0.W"\]' must be an object \{shape, dtype\}, got a """
     "string"),
    (lambda m: m["arrays"]["param/0.W"].update(shape="3x8"),
     r"""'arrays\["param/0.W"\].shape' must be a list of non-negative integers"""),
    (lambda m: m["arrays"]["param/0.W"].update(shape=[3, -8]),
     r"""'arrays\["param/0.W"\].shape' must be a list of non-negative integers"""),
    (lambda m: m["arrays"]["param/0.W"].update(dtype="object"),
     r"""'arrays\["param/0.W"\].dtype' must be one of 'float32', 'float64', got 'object'"""),
    (lambda m: m["arrays"]["param/0.W"].update(extra=1), "must have exactly the keys"),
    (lambda m: m["arrays"].update({"param/9.W": {"shape": [1], "dtype": "float32"}}),
     "'param/9.W', which is neither a parameter of the architecture"),
    (lambda m: m["arrays"].pop("param/0.b"), "lacks 'param/0.b', which the architecture"),
    (lambda m: m.update(layers={"0": "Dense"}), "metadata field 'layers' must be a list"),
    (lambda m: m.update(layers=[]), "metadata field 'layers' must be a list of 1 to"),
    (lambda m: m["layers"].__setitem__(0, "Dense"),
     r"metadata field 'layers\[0\]' must be an object \{type, config\}, got a string"),
    (lambda m: m["layers"][0].pop("config"), r"'layers\[0\].config' is missing"),
    (lambda m: m["layers"][0]["config"].update(in_features="3"),
     r"'layers\[0\].config.in_features' must be a positive integer, got a string"),
    (lambda m: m["layers"][0]["config"].update(in_features=True),
     r"'layers\[0\].config.in_features' must be a positive integer, got true"),
    (lambda m: m["layers"][0]["config"].update(out_features=0),
     r"'layers\[0\].config.out_features' must be a positive integer, got 0"),
    (lambda m: m["layers"][0]["config"].update(dtype="float16"),
     r"'layers\[0\].config.dtype' must be one of 'float32', 'float64', got 'float16'"),
    (lambda m: m["layers"][0]["config"].update(rng=3), "which Dense does not take"),
    (lambda m: m["layers"][1]["config"].update(alpha="0.1"),
     r"'layers\[1\].config.alpha' must be a finite number, got a string"),
    (lambda m: m["layers"][1]["config"].update(slope=0.1),
     r"'layers\[1\].config' has 'slope', which is not a setting of LeakyReLU"),
    (lambda m: m["layers"][2]["config"].update(p=1.5), r"layer 2 \(Dropout\) has invalid"),
    (lambda m: m["layers"][3]["config"].update(in_features=9), "inconsistent architecture"),
    (lambda m: m.update(output=5), "metadata field 'output' must be one of"),
    (lambda m: m.update(extra=[1, 2]), "metadata field 'extra' must be an object, got a list"),
    (lambda m: m.update(kind="weights"), "metadata field 'kind' must be one of"),
    (lambda m: m.update(version="1"), "metadata field 'version' must be a positive integer"),
    (lambda m: m.update(ffnn_version=1.0), "metadata field 'ffnn_version' must be a string"),
    (lambda m: m.pop("arrays"), "metadata field 'arrays' is missing"),
]


@pytest.mark.parametrize("mutate,match", BAD_FIELDS)
def test_every_malformed_field_is_a_model_file_error_naming_it(tmp_path, saved, mutate, match):
    _with_meta(saved, tmp_path / "bad.npz", mutate)
    _refused(tmp_path / "bad.npz", match)()
    with pytest.raises(ModelFileError, match=match):
        ffnn.io.read_metadata(tmp_path / "bad.npz")


@pytest.mark.parametrize("header,match", [
    (_npy_header((3, 8), descr="<f8"), r"stored as '<f8', not '<f4'"),
    (_npy_header((3, 8), descr=">f4"), r"stored as '>f4', not '<f4' \(float32, little-endian"),
    (_npy_header((3, 8), descr="|O"), "object arrays are never loaded"),
    (_npy_header((3, 8), fortran_order=True), "Fortran order"),
    (_npy_header((8, 3)), r"has shape \(8, 3\) in the file"),
    (b"\x93NUMPY\x01\x00\xff\xff" + b" " * 10, "65,535-byte .npy header"),
    (b"\x93NUMPY\x03\x00" + bytes(4), r"format \(3, 0\)"),
    (b"\x93NUMPY\x01\x00\x10\x00{'descr': 5}   \n", "malformed .npy header"),
    (b"not an npy file at all", "not an .npy array"),
])
def test_array_headers_are_checked_before_their_data(tmp_path, saved, header, match):
    members = _members(saved)
    members["param/0.W.npy"] = header + bytes(96)
    _write_members(tmp_path / "bad.npz", members)
    _refused(tmp_path / "bad.npz", match)()


def test_zip_members_must_be_exactly_the_described_arrays(tmp_path, saved):
    members = _members(saved)
    renamed = dict(members)
    renamed["param/0.w.npy"] = renamed.pop("param/0.W.npy")
    _write_members(tmp_path / "renamed.npz", renamed)
    _refused(tmp_path / "renamed.npz", r"missing \['param/0.W'\], not described \['param/0.w'\]")()
    (tmp_path / "twice.npz").write_bytes(_raw_zip(_stored(members) + _stored(
        {"param/0.b.npy": members["param/0.b.npy"]})))
    _refused(tmp_path / "twice.npz", "member 'param/0.b.npy' appears twice")()
    (tmp_path / "other.npz").write_bytes(_raw_zip(_stored({**members, "notes.txt": b"hi"})))
    _refused(tmp_path / "other.npz", "member 'notes.txt' is not an .npy array")()


def test_a_huge_zip_directory_is_refused_before_zipfile_reads_it(tmp_path, saved):
    data = bytearray(saved.read_bytes())
    end = data.rindex(b"PK\x05\x06")
    data[end + 12:end + 16] = struct.pack("<L", 900_000_000)  # directory size
    (tmp_path / "bad.npz").write_bytes(bytes(data))
    _refused(tmp_path / "bad.npz", "zip directory claims 900,000,000 bytes")()


# --------------------------------------------------------------------------- checkpoints
@pytest.fixture
def checkpoint(tmp_path):
    from ffnn.training import TrainingContext

    net = ffnn.Sequential(ffnn.Dense(3, 4, rng=0), ffnn.ReLU(), ffnn.Dropout(0.1),
                          ffnn.Dense(4, 2, rng=1))
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 3)), rng.integers(0, 2, 20)
    opt = ffnn.Adam(lr=0.01)
    history = ffnn.fit(net, X, y, "ce", opt, epochs=2, batch_size=5, seed=3, verbose=0)
    ctx = TrainingContext(net, ffnn.get_loss("ce"), opt, history, seed=3, epoch=1)
    ctx.extra["fit"] = {"batch_size": 5, "shuffle": True, "target_epochs": 4}
    path = tmp_path / "ckpt.npz"
    state = {"running": {"loss_sum": 1.5, "n": 10, "correct": 6.0, "count": 10, "sums": None},
             "dropout_rng": {"2": np.random.default_rng([3, 2, 2]).bit_generator.state}}
    ffnn.io.save_checkpoint(path, ctx, position=(2, 2), resume_state=state)
    return path


def test_checkpoint_round_trip(checkpoint):
    ck = ffnn.load_checkpoint(checkpoint)
    assert (ck.epoch, ck.batch, ck.seed, ck.loss) == (2, 2, 3, "ce")
    assert set(ck.optimizer.state) == {"0.W", "0.b", "3.W", "3.b"}
    assert ck.optimizer.state["3.W"]["m"].shape == (4, 2) and ck.optimizer.iterations == 8


BAD_CHECKPOINT_FIELDS = [
    (lambda m: m["optimizer"].update(name="lbfgs"), "unknown optimiser 'lbfgs'"),
    (lambda m: m["optimizer"]["config"].update(lr="fast"),
     "'optimizer.config.lr' must be a finite number, got a string"),
    (lambda m: m["optimizer"]["config"].update(lr=-1), "invalid optimiser settings"),
    (lambda m: m["optimizer"]["config"].update(threads=10**6), "not a setting of Adam"),
    (lambda m: m["optimizer"]["config"].update(fused="yes"),
     "'optimizer.config.fused' must be true or false"),
    (lambda m: m["optimizer"].update(iterations=-1),
     "'optimizer.iterations' must be a non-negative integer, got -1"),
    (lambda m: m["optimizer"].update(iterations=10**30), "must be an integer of at most"),
    (lambda m: m.pop("optimizer"), "metadata field 'optimizer' is missing"),
    (lambda m: m.update(loss="hinge"), "metadata field 'loss' must name a loss"),
    (lambda m: m.update(seed=-1), "metadata field 'seed' must be a non-negative integer"),
    (lambda m: m["position"].update(epoch="2"), "'position.epoch' must be a non-negative"),
    (lambda m: m.update(position=[2, 2]), "metadata field 'position' must be an object"),
    (lambda m: m.update(history="long"), "metadata field 'history' must be a list"),
    (lambda m: m.update(history=[1]), r"metadata field 'history\[0\]' must be an object"),
    (lambda m: m["fit"].update(batch_size=0), "'fit.batch_size' must be a positive integer"),
    (lambda m: m["resume_state"]["running"].update(loss_sum=[1]), "running.loss_sum"),
    (lambda m: m["resume_state"]["dropout_rng"]["2"].update(bit_generator="MT19937"),
     "not a valid PCG64 generator state"),
    (lambda m: m["resume_state"].update(dropout_rng={}), "must hold the generator of each"),
    (lambda m: m.update(resume_state=None), "'resume_state' is missing"),
    (lambda m: m["arrays"].update({"opt/0.W/zz": {"shape": [3, 4], "dtype": "float32"}}),
     "'opt/0.W/zz', which is neither a parameter of the architecture nor optimiser state"),
    (lambda m: m["arrays"].pop("opt/0.W/v"), r"slots \['m'\]; the optimiser keeps \['m', 'v'\]"),
    (lambda m: m["arrays"]["opt/0.W/m"].update(shape=[4, 3]),
     r"optimiser state 'opt/0.W/m' is float32\(4, 3\) but the architecture needs "
     r"float32\(3, 4\)"),
]


@pytest.mark.parametrize("mutate,match", BAD_CHECKPOINT_FIELDS)
def test_every_malformed_checkpoint_field_is_a_model_file_error(tmp_path, checkpoint, mutate,
                                                                match):
    _with_meta(checkpoint, tmp_path / "bad.npz", mutate)
    with pytest.raises(ModelFileError, match=match) as info:
        ffnn.load_checkpoint(tmp_path / "bad.npz")
    assert str(tmp_path / "bad.npz") in str(info.value)


def test_checkpoint_state_arrays_are_checked_like_parameters(tmp_path, checkpoint):
    members = _members(checkpoint)
    members["opt/3.W/v.npy"] = _npy_header((4, 2), descr="<i4") + bytes(32)
    _write_members(tmp_path / "bad.npz", members)
    with pytest.raises(ModelFileError, match=r"'opt/3.W/v' is stored as '<i4'"):
        ffnn.load_checkpoint(tmp_path / "bad.npz")


# --------------------------------------------------------------------------- saving
def test_save_refuses_nonfinite_weights_unless_asked(tmp_path, net):
    W = net.layers[3].params["W"]
    W[0, :3] = np.nan
    W[1, 0] = np.inf
    with pytest.raises(ValueError, match=r"refusing to save: parameter '3.W' holds 3 NaN values "
                                         r"and 1 infinite value; pass allow_nonfinite=True"):
        ffnn.save(net, tmp_path / "m.npz")
    assert not list(tmp_path.iterdir())
    ffnn.save(net, tmp_path / "m.npz", allow_nonfinite=True)
    with pytest.raises(ModelFileError, match=r"parameter '3.W' holds 3 NaN values and 1 infinite "
                                             "value; pass allow_nonfinite=True to load it"):
        ffnn.load(tmp_path / "m.npz")
    back = ffnn.load(tmp_path / "m.npz", allow_nonfinite=True)
    np.testing.assert_array_equal(back.layers[3].params["W"], W)


def test_save_checkpoint_refuses_nonfinite_state_unless_asked(tmp_path, checkpoint):
    ck = ffnn.load_checkpoint(checkpoint)
    ck.optimizer.state["0.b"]["v"][1] = np.nan
    from ffnn.training import TrainingContext

    ctx = TrainingContext(ck.net, ffnn.get_loss("ce"), ck.optimizer, ck.history, seed=3)
    with pytest.raises(ValueError, match="optimiser state '0.b/v' holds 1 NaN value"):
        ffnn.io.save_checkpoint(tmp_path / "c.npz", ctx)
    ffnn.io.save_checkpoint(tmp_path / "c.npz", ctx, allow_nonfinite=True)
    with pytest.raises(ModelFileError, match="optimiser state '0.b/v' holds 1 NaN value"):
        ffnn.load_checkpoint(tmp_path / "c.npz")
    back = ffnn.load_checkpoint(tmp_path / "c.npz", allow_nonfinite=True)
    assert np.isnan(back.optimizer.state["0.b"]["v"][1])


def test_fortran_ordered_parameters_are_saved_in_c_order(tmp_path, net):
    net.layers[0].params["W"] = np.asfortranarray(net.layers[0].params["W"])
    ffnn.save(net, tmp_path / "m.npz")
    np.testing.assert_array_equal(ffnn.load(tmp_path / "m.npz").layers[0].params["W"],
                                  net.layers[0].params["W"])


def _temp_names(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".ffnn-tmp-" in p.name)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_the_next_save_removes_temporaries_of_dead_saves_only(tmp_path, net):
    dead, alive = _dead_pid(), os.getppid()
    stale = tmp_path / f".model.npz.ffnn-tmp-{dead}-k1ll3d_x"
    busy = tmp_path / f".model.npz.ffnn-tmp-{alive}-wr1t1ng"  # another save, still running
    other = tmp_path / f".other.npz.ffnn-tmp-{dead}-abcdefgh"  # a different target
    unrelated = tmp_path / f".model.npz.ffnn-tmp-{dead}-x.bak"  # not one of ours
    for p in (stale, busy, other, unrelated):
        p.write_bytes(b"PK\x03\x04 half a zip")
    ffnn.save(net, tmp_path / "model.npz")
    assert not stale.exists()
    assert busy.exists() and other.exists() and unrelated.exists()
    ffnn.load(tmp_path / "model.npz")


KILL_SAVE_SCRIPT = """
import sys, numpy as np, ffnn
net = ffnn.mlp([1000, 1000, 10], seed=0, dtype=np.float64)   # 8 MB: each save takes a while
print("ready", flush=True)
while True:
    ffnn.save(net, sys.argv[1])
"""


def test_sigkill_mid_save_leaves_temporaries_that_the_next_save_removes(tmp_path, net):
    """Kill a process saving an 8 MB model in a loop, at a moment its temporary file exists,
    three times: each new process's first save removes the temporary the killed one left,
    the target stays loadable throughout, and our save removes the last one."""
    path = tmp_path / "model.npz"
    left: list[str] = []
    for _attempt in range(30):
        proc = subprocess.Popen([sys.executable, "-c", KILL_SAVE_SCRIPT, str(path)],
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        mine = f".model.npz.ffnn-tmp-{proc.pid}-"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(
                n.startswith(mine) for n in os.listdir(tmp_path)):
            time.sleep(0.001)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
        left += [n for n in _temp_names(tmp_path) if n.startswith(mine)]
        if path.exists():  # a save the killed process finished is intact
            assert ffnn.load(path).layers[0].params["W"].shape == (1000, 1000)
        if len(left) == 3:
            break
    assert len(left) == 3 and _temp_names(tmp_path) == left[-1:]
    ffnn.save(net, path)
    assert _temp_names(tmp_path) == []
    ffnn.load(path)


def test_write_errors_name_the_file_asked_for_not_the_temporary(tmp_path, net, monkeypatch):
    def denied(*args, dir=None, prefix="", **kwargs):
        raise PermissionError(13, "Permission denied", os.path.join(dir, prefix + "q1w2e3r4"))

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    with pytest.raises(PermissionError) as info:
        ffnn.save(net, tmp_path / "model.npz")
    assert str(info.value) == f"cannot write model.npz in {tmp_path}: permission denied"
    assert info.value.errno == 13
    monkeypatch.undo()
    (tmp_path / "model.npz").mkdir()  # the rename fails: the target is a folder
    with pytest.raises(OSError, match=rf"cannot write model.npz in {tmp_path}: ") as info:
        ffnn.save(net, tmp_path / "model.npz")
    assert "ffnn-tmp" not in str(info.value) and _temp_names(tmp_path) == []


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root can write into a read-only folder")
def test_a_read_only_folder(tmp_path, net):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(PermissionError, match=f"^cannot write model.npz in {folder}: "
                                                  "permission denied$"):
            ffnn.save(net, folder / "model.npz")
    finally:
        folder.chmod(0o755)
