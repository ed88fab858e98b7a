"""A Python script that reproduces a playground run with ffnn, written from a session.

The playground trains on the batches ``fit`` draws for the same seed and epochs, so
``fit(..., epochs=n)`` in one call ends where the page is after n epochs: the script's network
has the page's weights (same data, same initial weights, same batches), as long as no live setting
(the learning rate) was changed during the run; the script says so when one was.
"""

from __future__ import annotations

import datetime
import textwrap

import numpy as np

from .data import FEATURES

_OPTIMIZERS = {"sgd": "ffnn.SGD({lr}{penalty})",
               "momentum": "ffnn.SGD({lr}, momentum=0.9{penalty})",
               "adam": "ffnn.Adam({lr}{penalty})",
               "rmsprop": "ffnn.RMSProp({lr}{penalty})"}


def _array(a: np.ndarray, dtype: str) -> str:
    body = ", ".join(repr(v) for v in np.asarray(a).ravel().tolist())
    shape = tuple(np.shape(a))
    return f"np.array([{body}], dtype=np.{dtype}).reshape({shape})"


def script(session) -> str:
    """The script's text for ``session`` (a ``playground.session.Session``)."""
    s = session.settings
    sizes = [len(s.features), *s.hidden, session.net.n_outputs]
    loss = session.loss
    penalty = ""
    if s.regularization == "l2" and s.reg_rate:
        penalty = f", weight_decay={s.reg_rate!r}"
    elif s.regularization == "l1" and s.reg_rate:
        penalty = f", l1={s.reg_rate!r}"
    opt = _OPTIMIZERS[s.optimizer].format(lr=repr(s.lr), penalty=penalty)
    epochs = session.epoch
    what = ("binary classification" if session.task == "binary" else
            f"{session.n_classes}-class classification" if session.task == "multiclass" else
            "regression")
    shape = "-".join(map(str, sizes))
    lines = [
        f'"""Reproduces an ffnn playground run: {s.dataset}, {what}, network {shape} '
        f'{s.activation},',
        f"{s.optimizer} lr {s.lr:g}, batch {session.batch_size}, {epochs} epochs.",
        "",
        f"Written by `ffnn playground` on {datetime.date.today().isoformat()}.  Run it with "
        "`python <this file>`:",
        "it trains the same network on the same points with the same batches, so it ends with",
        "the weights and losses the page showed at this epoch.",
    ]
    if session.changed_midway:
        lines += ["", "Note: during the run on the page, " + "; ".join(session.changed_midway)
                  + ".", "This script uses the final settings from the start, so its numbers "
                  "differ from the page's."]
    lines += ['"""', "", "import numpy as np", "", "import ffnn",
              "from ffnn.playground.data import feature_matrix, make_dataset, split", ""]
    if s.dataset == "custom":
        lines += [f"# the points ({session.custom['source']}), already shuffled and split as on "
                  "the page",
                  f"X_train = {_array(session.X_train, 'float64')}",
                  f"y_train = {_array(session.y_train, str(session.y_train.dtype))}",
                  f"X_test = {_array(session.X_test.reshape(-1, 2), 'float64')}",
                  f"y_test = {_array(session.y_test, str(session.y_test.dtype))}"]
        if session.class_names:
            lines.append(f"class_names = {session.class_names!r}  # label k is class_names[k]")
    else:
        classes = s.classes if s.problem == "classification" else 0
        lines += ["# the points: the same generator and seed as the page",
                  f"X, y = make_dataset({s.dataset!r}, n_samples={s.n_samples}, "
                  f"noise={s.noise / 100!r}, classes={classes}, seed={s.seed})",
                  f"X_train, y_train, X_test, y_test = split(X, y, train_ratio="
                  f"{s.train_ratio / 100!r})"]
    feature_doc = ", ".join(f"{f} = {FEATURES[f][0]}" for f in s.features)
    lines += [
        "",
        f"# the network's inputs: {feature_doc}",
        f"features = {list(s.features)!r}",
        "F_train = feature_matrix(X_train, features)",
        "F_test = feature_matrix(X_test, features)",
        "",
        f"# {shape}: Dense layers with {s.activation} between them; the last layer's raw "
        f"output goes to the {loss!r} loss",
        f"# initial weights: the page's seed {s.seed} mixed with the data set's name",
        f"net = ffnn.mlp({sizes!r}, activation={s.activation!r}, seed={session.init_seed}, "
        f"output={session.net.output_kind()!r})",
        f"optimizer = {opt}",
        f"print(net.explain(loss={loss!r}))",
        "# fused=False: the reference step, as the page runs it, so the weights match the",
        "# page's bit for bit (the default fast step gives them up to float rounding)",
        f"history = ffnn.fit(net, F_train, y_train, {loss!r}, optimizer, epochs={epochs}, "
        f"batch_size={s.batch_size}, seed={s.seed}, verbose=0, fused=False)",
        "",
        f'print("train", ffnn.evaluate(net, F_train, y_train, {loss!r}))',
    ]
    if len(session.y_test):
        lines.append(f'print("test ", ffnn.evaluate(net, F_test, y_test, {loss!r}))')
    lines += ['ffnn.save(net, "playground-model.npz")',
              'print("model written to playground-model.npz")', ""]
    return "\n".join(textwrap.dedent(line) for line in lines)
