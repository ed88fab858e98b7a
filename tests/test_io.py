"""Model files: round trip, no pickle ever, clear errors for corrupt or hostile files, atomic."""

import io
import json
import pickle
import zipfile

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
