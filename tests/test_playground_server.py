"""The playground server over a real socket (uvicorn on 127.0.0.1), without a browser:
the protocol, bad and oversized messages, uploads, many sessions, closed tabs, exports."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
ws_client = pytest.importorskip("websockets.sync.client")
from websockets.exceptions import ConnectionClosed  # noqa: E402

import ffnn  # noqa: E402
from ffnn.playground import protocol as P  # noqa: E402
from ffnn.playground.data import feature_matrix, grid  # noqa: E402
from ffnn.playground.server import MAX_MESSAGE_BYTES, BackgroundServer, exposure_warning  # noqa: E402
from ffnn.playground.settings import LIMITS  # noqa: E402


@pytest.fixture(scope="module")
def server():
    with BackgroundServer(max_sessions=30) as srv:
        yield srv


class Tab:
    """A scripted page: sends JSON, reads JSON and binary messages."""

    def __init__(self, server, timeout: float = 20.0):
        self.ws = ws_client.connect(server.ws_url, max_size=None,
                                    open_timeout=timeout).__enter__()
        self.timeout = timeout
        self.hello = self.recv_json("hello")

    def send(self, **msg):
        self.ws.send(json.dumps(msg))

    def recv(self):
        m = self.ws.recv(timeout=self.timeout)
        if isinstance(m, bytes):
            header, arrays = P.decode(m)
            return header, arrays
        return json.loads(m), None

    def recv_json(self, kind: str) -> dict:
        header, _ = self.recv_until(kind)
        return header

    def recv_until(self, kind: str, limit: int = 50):
        for _ in range(limit):
            header, arrays = self.recv()
            if header["type"] == kind:
                return header, arrays
            if header["type"] == "error" and kind != "error":
                raise AssertionError(f"error while waiting for {kind}: {header}")
        raise AssertionError(f"no {kind!r} message in {limit} messages")

    def configure(self, **config):
        """Send settings; read the state and the frame, and ack the frame as the page does."""
        self.send(type="config", config=config)
        state = self.recv_json("state")
        frame = self.recv_until("frame")
        self.send(type="ack", seq=frame[0]["seq"])
        return state, frame

    def close(self):
        self.ws.close()


def _wait(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def _get(url: str):
    with urllib.request.urlopen(url, timeout=20) as r:
        return r.status, r.headers, r.read()


# --------------------------------------------------------------------------- the protocol
def test_page_and_static_files_are_served(server):
    status, headers, body = _get(server.url)
    assert status == 200 and b"<html" in body.lower()
    for name in ("playground.js", "playground.css"):
        status, _, body = _get(server.url + "static/" + name)
        assert status == 200 and len(body) > 100
    assert b"http://" not in _get(server.url)[2].replace(b"http://www.w3.org", b"")  # no CDN


def test_hello_then_config_gives_state_data_and_frame(server):
    tab = Tab(server)
    assert tab.hello["version"] == P.VERSION and tab.hello["limits"]["max_layers"] >= 6
    assert tab.hello["limits"]["max_neurons"] >= 8
    assert set(tab.hello["options"]["dataset"]["classification"]) >= {
        "circle", "xor", "gaussian", "spiral", "moons"}
    tab.send(type="config", config={"dataset": "spiral", "classes": 3, "hidden": [8, 8]})
    state, _ = tab.recv()
    assert state["type"] == "state" and state["config"]["classes"] == 3
    assert "Z1 = X @ W1 + b1" in state["explain"] and state["network"]["sizes"] == [2, 8, 8, 3]
    data, arrays = tab.recv()
    assert data["type"] == "data" and data["classes"] == 3
    assert arrays["train_x"].shape == (250, 2) and arrays["features"].shape[0] == 2
    frame, arrays = tab.recv()
    assert frame["type"] == "frame" and frame["epoch"] == 0
    assert arrays["output_class"].shape == (100, 100)
    tab.close()


def test_play_streams_frames_paced_by_acks(server):
    tab = Tab(server)
    tab.configure(dataset="xor", hidden=[4])
    tab.send(type="play")
    assert tab.recv_json("status")["playing"] is True
    first, _ = tab.recv_until("frame")
    second, _ = tab.recv_until("frame")
    # two frames unacknowledged: the server waits instead of training on
    with pytest.raises(TimeoutError):
        tab.ws.recv(timeout=0.5)
    tab.send(type="ack", seq=second["seq"])
    frames = []
    for _ in range(20):
        header, _ = tab.recv_until("frame")
        tab.send(type="ack", seq=header["seq"])
        frames.append(header)
    assert frames[-1]["epoch"] > second["epoch"] > first["epoch"] >= 1
    assert frames[-1]["train_loss"] != first["train_loss"]
    tab.send(type="pause")
    status = tab.recv_json("status")
    assert status["playing"] is False
    tab.close()


def test_step_sends_frame_and_trace(server):
    tab = Tab(server)
    tab.configure(hidden=[3])
    tab.send(type="step")
    frame, _ = tab.recv_until("frame")
    trace, arrays = tab.recv_until("trace")
    assert frame["epoch"] == 1 and trace["epoch"] == 1
    assert {"X", "Z1", "A1", "Z2", "dZ2", "dW1", "db1", "update_W1"} <= set(trace["names"])
    assert arrays["dW1"].shape == (2, 3) and arrays["Z1"].shape == (trace["batch"], 3)
    tab.close()


def test_gradient_check_over_the_socket(server):
    tab = Tab(server)
    tab.configure(dataset="spiral", classes=3, hidden=[5, 4], activation="tanh")
    tab.send(type="gradcheck")
    report = tab.recv_json("gradcheck")
    assert report["passed"] and all(c["passed"] for c in report["checks"])
    assert len(report["checks"]) == 6
    tab.close()


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("raw, source, match", [
    ("not json", "message", "not valid JSON"),
    ('"a string"', "message", "JSON object"),
    ('{"type": "explode"}', "message", "unknown message type"),
    ('{"type": "config"}', "message", "needs the field 'config'"),
    ('{"type": "config", "config": {"hidden": [8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, '
     '8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, '
     '8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, '
     '8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8]}}',
     "config", "at most 8 hidden layers, got 100"),
    ('{"type": "config", "config": {"hidden": [100000]}}', "config", "hidden layer 1"),
    ('{"type": "config", "config": {"lr": "NaN"}}', "config", "finite"),
    ('{"type": "config", "config": {"nope": 1}}', "config", "unknown setting"),
    ('{"type": "points", "points": [[0, 0]]}', "points", "three finite numbers"),
    ('{"type": "points", "points": [1, 2, 3]}', "points", "three finite numbers"),
    ('{"type": "ack", "seq": -5}', None, None),  # harmless: nothing to say
])
def test_bad_messages_get_an_error_and_the_session_goes_on(server, raw, source, match):
    tab = Tab(server)
    tab.ws.send(raw)
    if source is not None:
        error = tab.recv_json("error")
        assert error["source"] == source and match in error["message"]
    tab.send(type="ping")
    assert tab.recv_json("pong")["type"] == "pong"
    state, _ = tab.configure(hidden=[2])  # and it still trains and draws
    assert state["config"]["hidden"] == [2]
    tab.close()


def test_binary_message_from_the_page_is_refused(server):
    tab = Tab(server)
    tab.ws.send(b"\x00\x01\x02")
    assert "binary" in tab.recv_json("error")["message"]
    tab.send(type="ping")
    tab.recv_json("pong")
    tab.close()


def test_non_numeric_upload_names_line_and_column(server):
    tab = Tab(server)
    tab.send(type="upload", name="bad.csv", text="x1,x2,label\n1,2,0\n3,four,1\n5,6,1\n")
    error = tab.recv_json("error")
    assert error["source"] == "upload" and error["line"] == 3 and error["column"] == "x2"
    assert "'four' is not a finite number" in error["message"]
    tab.close()


def test_oversized_upload_gets_an_error(server):
    tab = Tab(server)
    text = "1,2,0\n" * (LIMITS["max_upload_bytes"] // 6 + 10)
    tab.send(type="upload", name="big.csv", text=text)
    error = tab.recv_json("error")
    assert error["source"] == "upload" and "at most" in error["message"]
    tab.send(type="ping")
    tab.recv_json("pong")
    tab.close()


def test_message_beyond_the_socket_limit_closes_only_that_tab(server):
    tab = Tab(server)
    tab.ws.send(json.dumps({"type": "upload", "name": "huge.csv",
                            "text": "1,2,0\n" * (MAX_MESSAGE_BYTES // 6 + 10)}))
    with pytest.raises(ConnectionClosed):
        for _ in range(5):
            tab.ws.recv(timeout=10)
    other = Tab(server)  # the server keeps serving
    other.configure(hidden=[2])
    other.close()


def test_good_upload_trains(server):
    tab = Tab(server)
    rows = "".join(f"{np.cos(i):.4f},{np.sin(i):.4f},{'in' if i % 3 else 'out'}\n"
                   for i in range(60))
    tab.send(type="upload", name="mine.csv", text="a,b,label\n" + rows)
    state = tab.recv_json("state")
    assert state["config"]["dataset"] == "custom" and state["custom"]["n"] == 60
    data, _ = tab.recv_until("data")
    assert data["class_names"] == ["in", "out"]
    assert tab.recv_until("frame")[0]["epoch"] == 0
    tab.send(type="step")
    frame, _ = tab.recv_until("frame")
    assert frame["epoch"] == 1 and frame["train_loss"] is not None
    tab.close()


def test_divergence_is_reported_and_playing_stops(server):
    tab = Tab(server)
    tab.configure(dataset="reg-plane", activation="linear", hidden=[8, 8, 8], lr=10,
                  batch_size=30)
    tab.send(type="play")
    tab.recv_json("status")
    for _ in range(100):
        header, _ = tab.recv()
        if header["type"] == "frame":
            tab.send(type="ack", seq=header["seq"])
        if header["type"] == "error":
            break
    assert header["source"] == "training" and "diverged" in header["message"]
    status = tab.recv_json("status")
    assert status["playing"] is False
    tab.close()


# --------------------------------------------------------------------------- sessions
def test_twenty_sessions_at_once(server):
    tabs = [Tab(server) for _ in range(20)]
    assert {tab.hello["session"] for tab in tabs} <= set(server.app.state.sessions)
    errors = []

    def play(tab, k):
        try:
            tab.configure(dataset="circle", hidden=[k % 8 + 1], seed=k)
            tab.send(type="play")
            tab.recv_json("status")
            for _ in range(5):
                header, _ = tab.recv_until("frame")
                tab.send(type="ack", seq=header["seq"])
            tab.send(type="pause")
            assert header["epoch"] >= 4
        except Exception as exc:  # noqa: BLE001 - collected and reported below
            errors.append(exc)

    threads = [threading.Thread(target=play, args=(t, k)) for k, t in enumerate(tabs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:3]
    ids = {tab.hello["session"] for tab in tabs}
    for tab in tabs:
        tab.close()
    assert _wait(lambda: not ids & set(server.app.state.sessions))


def test_sessions_beyond_the_limit_are_told_and_closed():
    with BackgroundServer(max_sessions=2) as srv:
        a, b = Tab(srv), Tab(srv)
        ws = ws_client.connect(srv.ws_url, max_size=None).__enter__()
        error = json.loads(ws.recv(timeout=10))
        assert error["type"] == "error" and "limit" in error["message"]
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
        a.close()
        assert _wait(lambda: len(srv.app.state.sessions) == 1)
        c = Tab(srv)  # a free place again
        c.close()
        b.close()


def test_closing_a_tab_mid_training_stops_its_training(server):
    tab = Tab(server)
    tab.configure(hidden=[8, 8])
    sid = tab.hello["session"]
    session = server.app.state.sessions[sid]
    tab.send(type="play")
    tab.recv_json("status")
    header, _ = tab.recv_until("frame")
    tab.send(type="ack", seq=header["seq"])
    tab.ws.close()  # the tab goes away without pausing
    assert _wait(lambda: sid not in server.app.state.sessions)
    epoch = session.epoch
    time.sleep(0.5)
    assert session.epoch == epoch and not session.playing
    with pytest.raises(urllib.error.HTTPError) as info:
        _get(f"{server.url}api/session/{sid}/model.npz")
    assert info.value.code == 404


# --------------------------------------------------------------------------- exports
def test_exported_model_predicts_what_the_page_showed(server, tmp_path):
    tab = Tab(server)
    tab.configure(dataset="moons", hidden=[6, 4], activation="relu", lr=0.1)
    for _ in range(15):
        tab.send(type="step")
    for _ in range(15):
        frame, arrays = tab.recv_until("frame")
    assert frame["epoch"] == 15
    sid = tab.hello["session"]
    status, headers, body = _get(f"{server.url}api/session/{sid}/model.npz")
    assert status == 200 and "attachment" in headers["Content-Disposition"]
    path = tmp_path / "model.npz"
    path.write_bytes(body)
    net = ffnn.load(path)
    extra = ffnn.io.read_metadata(path)["extra"]
    assert extra["epoch"] == 15 and extra["features"] == ["x1", "x2"]
    F = feature_matrix(grid(extra["domain"], 100), extra["features"])
    P1 = net.predict_proba(F)[:, 0]
    np.testing.assert_allclose(arrays["output"].reshape(-1) / 255, P1, atol=0.5 / 255 + 1e-6)
    # and the test loss the page printed
    _, _, csv_body = _get(f"{server.url}api/session/{sid}/data.csv")
    rows = [line.split(",") for line in csv_body.decode().splitlines()[1:]]
    test = np.array([[float(a), float(b), float(c)] for a, b, c, part in rows if part == "test"])
    m = ffnn.evaluate(net, feature_matrix(test[:, :2], extra["features"]), test[:, 2], "bce")
    assert m["loss"] == pytest.approx(frame["test_loss"], rel=1e-5)
    assert m["accuracy"] == pytest.approx(frame["test_accuracy"])
    status, _, script = _get(f"{server.url}api/session/{sid}/script.py")
    assert b"ffnn.fit(" in script and b"epochs=15" in script
    compile(script, "script.py", "exec")
    tab.close()


def test_unknown_session_export_is_a_clear_404(server):
    with pytest.raises(urllib.error.HTTPError) as info:
        _get(f"{server.url}api/session/nope/script.py")
    assert info.value.code == 404 and b"no live session" in info.value.read()


def test_binding_beyond_loopback_warns():
    assert exposure_warning("127.0.0.1") is None
    assert "anyone who can reach this machine" in exposure_warning("0.0.0.0")


def test_cli_playground_options(capsys):
    from ffnn.cli import main

    with pytest.raises(SystemExit):
        main(["playground", "--help"])
    assert "--no-browser" in capsys.readouterr().out
    assert main(["playground", "--port", "70000", "--no-browser"]) == 1
    assert "--port" in capsys.readouterr().err


@pytest.mark.parametrize("path", ["static/../session.py", "static/%2e%2e/session.py",
                                  "static/..%2fserver.py", "api/session/../../etc/passwd",
                                  "static//etc/passwd"])
def test_no_path_outside_the_static_folder_is_served(server, path):
    try:
        status, _, body = _get(server.url + path)
    except urllib.error.HTTPError as exc:
        assert exc.code in (400, 404)
        return
    assert b"import" not in body and b"root:" not in body
