"""The playground's frame protocol, version 1: what the page and the server say to each other.

One WebSocket per browser tab (``/ws``); the tab *is* the session.  Two kinds of message:

* **JSON text messages** (both directions): an object with a ``"type"``.
* **Binary messages** (server to page only): a frame of arrays.  Layout, all little-endian::

      bytes 0..3          uint32 H: length of the JSON header
      bytes 4..4+H        the header, UTF-8 JSON: {"v": 1, "type": ..., ..., "arrays": [...]}
      then the arrays     each starts at an offset (from the start of the message) that is a
                          multiple of 8, so the page can view it as a typed array in place

  Each entry of ``"arrays"``: ``{"name", "dtype" ("uint8" | "float32" | "int32"), "shape",
  "offset", "nbytes"}``.  Float arrays are float32; pictures are uint8 (see *pictures*).

Page to server (JSON)
---------------------
``{"type": "config", "config": {...}}``   set any subset of the settings (see ``settings``);
                                          the server answers ``state`` + ``data`` + ``frame``
                                          (``data`` only when the points changed, and always
                                          after the tab's first ``config``)
``{"type": "play"}`` / ``{"type": "pause"}``   start / stop streaming frames; answer: ``status``
``{"type": "step"}``                      one epoch (then paused); answer: ``frame`` + ``trace``
``{"type": "reset"}``                     new weights from the seed, epoch 0; answer: ``state`` +
                                          ``frame``
``{"type": "ack", "seq": n}``             frame ``n`` has been drawn (flow control: at most
                                          ``WINDOW`` frames are ever unacknowledged)
``{"type": "gradcheck"}``                 answer: ``gradcheck``
``{"type": "upload", "name": str, "text": str}``   a CSV: two numeric feature columns and a
                                          label (classification) or target (regression) column
``{"type": "points", "points": [[x1, x2, label], ...]}``   data placed by clicking
``{"type": "ping"}``                      answer: ``{"type": "pong"}``

Server to page
--------------
``hello`` (JSON, first message): ``session`` (id used in export URLs), ``version``,
    ``defaults`` (a full config), ``options`` (the allowed values of every choice),
    ``limits`` (max hidden layers, neurons per layer, points, upload bytes), ``grid``,
    ``neuron_grid``.  ``options.dataset`` lists the ``classification``, ``regression`` and
    ``multiclass`` (any number of classes) data sets.
``state`` (JSON): ``config`` (the full, normalised settings in force), ``playing``, ``network``
    (``sizes`` [inputs, hidden..., outputs], ``features``, ``activation``, ``loss``,
    ``output`` "sigmoid" | "softmax" | "identity", ``n_params``, ``params`` [{name, shape}]),
    ``explain`` (ffnn.explain's equations with shapes, text), ``summary`` (text),
    ``notices`` (list of strings: settings the server adjusted, and why), ``epoch``,
    ``custom`` (null, or the source, size and problem of uploaded / placed points).
``status`` (JSON): ``playing`` (bool), ``epoch``.
``error`` (JSON): ``message`` (one sentence naming the problem), ``source`` ("upload",
    "config", "message", "training", "gradcheck", "session"), and for uploads ``line`` and
    ``column`` when known.  The session keeps running after an error.
``gradcheck`` (JSON): ``passed``, ``tol``, ``method``, ``batch`` (samples used), ``text``
    (ffnn's report as text), ``checks``: [{``name`` ("0.W"), ``label`` ("W1"), ``shape``,
    ``n_checked``, ``max_rel_error``, ``passed``, ``n_kinks``}].
``data`` (binary): ``problem``, ``classes`` (0 for regression), ``class_names``, ``domain``
    [x_min, x_max, y_min, y_max], ``grid`` (G), ``neuron_grid`` (g), ``features`` (ids),
    ``feature_labels``, ``n_train``, ``n_test``, ``target_range`` [lo, hi] (regression);
    arrays ``train_x`` float32 (n, 2), ``train_y`` float32 (n,), ``test_x``, ``test_y``,
    ``features`` uint8 (F, g, g) and ``feature_range`` float32 (F, 2): each input feature
    over the plane.
``frame`` (binary): ``seq``, ``epoch``, ``steps`` (optimiser steps so far), ``playing``,
    ``train_loss``, ``test_loss`` (data loss, without the penalty; null without test points),
    ``train_accuracy``, ``test_accuracy`` (classification) or ``train_r2``, ``test_r2``
    (regression), ``confusion_train``, ``confusion_test`` (C x C lists: row = true class,
    column = predicted), ``ms`` (server time spent on this frame); arrays ``output`` uint8
    (G, G), ``output_class`` uint8 (G, G) (multiclass: the arg-max class; ``output`` is then
    its probability), ``output_range`` float32 (2,), ``neurons`` uint8 (U, g, g) (every hidden
    unit, layer by layer), ``neuron_range`` float32 (U, 2), and ``W1``, ``b1``, ... float32
    (the weights after this frame, W_l of shape (D_in, D_out)).
``trace`` (binary): ``epoch``, ``step``, ``batch`` (rows in the traced batch), ``names`` (in
    order); arrays named as ffnn.tracing names them (``X``, ``Z1``, ``A1``, ..., ``out``,
    ``y``, ``loss``, ``dZ2``, ``dW2``, ``db2``, ..., ``update_W1``), float32: every quantity
    of the last mini-batch step of the epoch just taken.

Pictures
--------
The plane is sampled at cell centres: picture[r, c] is the value at
``x = x_min + (c + 0.5) (x_max - x_min) / G`` and ``y = y_max - (r + 0.5) (y_max - y_min) / G``
(row 0 at the top, as an image).  A uint8 picture with range [lo, hi] stores
``q = round(255 (v - lo) / (hi - lo))``, so ``v = lo + q (hi - lo) / 255``.  ``output`` of a
binary classifier is P(class 1) with range [0, 1]; of a regression its value with range
``output_range``.

Export (HTTP GET, for the session's id): ``/api/session/{id}/model.npz`` (ffnn.load reads
it), ``/api/session/{id}/script.py`` (a script that reproduces the run with ffnn),
``/api/session/{id}/data.csv`` (the points with their split).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping

import numpy as np

VERSION = 1
#: frames sent and not yet acknowledged, at most (the page acks each frame it has drawn)
WINDOW = 2
_ALIGN = 8
_DTYPES = {"uint8": np.uint8, "float32": np.float32, "int32": np.int32}


class ProtocolError(ValueError):
    """A message the server cannot take: the text says what is wrong with it."""


def encode(kind: str, header: Mapping, arrays: Mapping[str, np.ndarray] | None = None) -> bytes:
    """One binary message: uint32 header length, the JSON header, then 8-aligned arrays."""
    arrays = dict(arrays or {})
    specs = []
    blobs = []
    head = {"v": VERSION, "type": kind, **header}
    # offsets depend on the header's length, which depends on the offsets: lay the arrays
    # out relative to the data start, then fix the start once the header's size is known
    rel = 0
    for name, arr in arrays.items():
        a = np.asarray(arr)
        if not a.flags.c_contiguous:
            a = np.ascontiguousarray(a)  # (which would also turn a 0-d array into 1-d)
        dtype = a.dtype.name
        if dtype not in _DTYPES:
            raise TypeError(f"array {name!r} has dtype {dtype}; frames carry "
                            f"{', '.join(_DTYPES)}")
        specs.append({"name": name, "dtype": dtype, "shape": list(a.shape), "offset": rel,
                      "nbytes": a.nbytes})
        blobs.append(a)
        rel += -(-a.nbytes // _ALIGN) * _ALIGN
    head["arrays"] = specs
    text = json.dumps(head, separators=(",", ":"), allow_nan=False).encode()
    # the width of the offsets grows the header: pad the header so the data starts aligned
    start = -(-(4 + len(text) + 16 * len(specs) + 16) // _ALIGN) * _ALIGN
    for spec in specs:
        spec["offset"] += start
    text = json.dumps(head, separators=(",", ":"), allow_nan=False).encode()
    if 4 + len(text) > start:  # cannot happen with the slack above; say so if it ever does
        raise RuntimeError("frame header outgrew its slot")
    text += b" " * (start - 4 - len(text))
    out = bytearray(start + rel)
    out[:4] = struct.pack("<I", len(text))
    out[4:4 + len(text)] = text
    for spec, a in zip(specs, blobs, strict=True):
        out[spec["offset"]:spec["offset"] + a.nbytes] = a.tobytes()
    return bytes(out)


def decode(message: bytes) -> tuple[dict, dict[str, np.ndarray]]:
    """The inverse of ``encode`` (for tests and Python clients): (header, arrays)."""
    if len(message) < 4:
        raise ProtocolError("a binary message needs at least 4 bytes")
    (n,) = struct.unpack_from("<I", message, 0)
    header = json.loads(message[4:4 + n].decode())
    arrays = {}
    for spec in header.get("arrays", []):
        dtype = np.dtype(_DTYPES[spec["dtype"]])
        count = int(np.prod(spec["shape"], dtype=np.int64))
        arrays[spec["name"]] = np.frombuffer(message, dtype=dtype, count=count,
                                             offset=spec["offset"]).reshape(spec["shape"])
    return header, arrays


def text(kind: str, **fields) -> str:
    """One JSON text message."""
    return json.dumps({"v": VERSION, "type": kind, **fields}, allow_nan=False)


#: message types the page may send, and the fields each needs (name -> type)
CLIENT_MESSAGES: dict[str, dict[str, type | tuple[type, ...]]] = {
    "config": {"config": dict},
    "play": {},
    "pause": {},
    "step": {},
    "reset": {},
    "ack": {"seq": int},
    "gradcheck": {},
    "upload": {"name": str, "text": str},
    "points": {"points": list},
    "ping": {},
}


def parse_client_message(raw: str) -> dict:
    """Validate one message from the page: JSON object, known type, fields of the right types."""
    try:
        msg = json.loads(raw)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ProtocolError(f"the message is not valid JSON ({exc})") from None
    if not isinstance(msg, dict):
        raise ProtocolError(f"a message must be a JSON object, got {type(msg).__name__}")
    kind = msg.get("type")
    if kind not in CLIENT_MESSAGES:
        raise ProtocolError(f"unknown message type {kind!r}; known: "
                            f"{', '.join(sorted(CLIENT_MESSAGES))}")
    for field, want in CLIENT_MESSAGES[kind].items():
        value = msg.get(field)
        if value is None:
            raise ProtocolError(f"a {kind!r} message needs the field {field!r}")
        if not isinstance(value, want) or (want is int and isinstance(value, bool)):
            raise ProtocolError(f"field {field!r} of a {kind!r} message must be "
                                f"{getattr(want, '__name__', want)}, got {type(value).__name__}")
    return msg


def quantize(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """uint8 picture of ``values`` over [lo, hi]: q = round(255 (v - lo) / (hi - lo))."""
    span = hi - lo if hi > lo else 1.0
    q = (values - lo) * (255.0 / span)
    np.clip(q, 0, 255, out=q)
    return np.rint(q).astype(np.uint8)
