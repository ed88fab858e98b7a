"""The playground in a real browser: headless Chromium (Debian's) driven by Playwright.

Runs in ``make test`` and CI (``.ci/run`` installs chromium when it is missing).  On a machine
without chromium the tests are skipped with the reason, except under CI, where they fail.
The page is driven only through its ``data-testid`` hooks, as outside tests would.
"""

from __future__ import annotations

import os
import re
import shutil

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
sync_api = pytest.importorskip("playwright.sync_api")

import ffnn  # noqa: E402
from ffnn.playground.data import feature_matrix  # noqa: E402
from ffnn.playground.server import BackgroundServer  # noqa: E402

CHROMIUM = os.environ.get("FFNN_CHROMIUM") or shutil.which("chromium") or \
    shutil.which("chromium-browser")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        "--disable-dev-shm-usage"]

if not CHROMIUM:
    if os.environ.get("CI"):
        raise RuntimeError("CI needs Debian's chromium for the playground's browser tests "
                           "(.ci/run installs it with apt-get)")
    pytest.skip("no chromium on this machine (apt-get install chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def server():
    with BackgroundServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class Page:
    """One tab of the playground with its console errors collected."""

    def __init__(self, browser, url: str):
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000},
                                           accept_downloads=True)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text)
                     if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(url)
        self.page.wait_for_function("document.body.dataset.ready === '1'", timeout=30_000)

    def el(self, testid: str):
        return self.page.locator(f"[data-testid='{testid}']")

    def text(self, testid: str) -> str:
        return self.el(testid).first.inner_text().strip()

    def number(self, testid: str) -> float:
        return float(self.text(testid))

    def epoch(self) -> int:
        return int(self.text("epoch"))

    def state(self) -> dict:
        return self.page.evaluate("window.ffnnPlayground.state")

    def wait_config(self, key: str, value, timeout: float = 15_000) -> None:
        self.page.wait_for_function(
            "([k, v]) => { const s = window.ffnnPlayground.state; "
            "return s && JSON.stringify(s.config[k]) === JSON.stringify(v); }",
            arg=[key, value], timeout=timeout)

    def wait_epoch(self, at_least: int, timeout: float = 60_000) -> None:
        self.page.wait_for_function(
            "n => Number(document.querySelector(\"[data-testid='epoch']\").textContent) >= n",
            arg=at_least, timeout=timeout)

    def boundary_pixels(self) -> bytes:
        data = self.page.evaluate(
            "() => { const c = document.querySelector(\"[data-testid='boundary']\"); "
            "return c.toDataURL('image/png'); }")
        return data

    def step(self, n: int = 1) -> None:
        for _ in range(n):
            before = self.epoch()
            self.el("step").click()
            self.wait_epoch(before + 1)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tab(browser, server):
    opened = []

    def open_(hash_: str = "") -> Page:
        p = Page(browser, server.url + (("#" + hash_) if hash_ else ""))
        opened.append(p)
        return p

    yield open_
    for p in opened:
        p.close()


def test_page_loads_without_console_errors_and_has_every_hook(tab):
    p = tab()
    for testid in ("play", "pause", "step", "reset", "dataset", "activation", "learning-rate",
                   "problem", "add-layer", "remove-layer", "epoch", "train-loss", "test-loss",
                   "boundary", "math", "gradcheck", "gradcheck-report", "upload", "error",
                   "export-model", "export-script"):
        assert p.el(testid).count() >= 1, f"no data-testid={testid!r}"
    options = p.el("dataset").locator("option").evaluate_all("os => os.map(o => o.value)")
    assert {"circle", "xor", "gaussian", "spiral", "moons"} <= set(options)
    assert p.epoch() == 0
    float(p.text("train-loss"))
    assert "Z1 = X @ W1 + b1" in p.text("math")
    assert p.errors == []


def test_play_changes_epoch_loss_and_boundary(tab):
    p = tab("dataset=xor&hidden=4&lr=0.1")
    p.wait_config("dataset", "xor")
    loss0, pixels0 = p.text("train-loss"), p.boundary_pixels()
    p.el("play").click()
    p.wait_epoch(20)
    p.el("pause").click()
    assert p.text("train-loss") != loss0
    assert p.boundary_pixels() != pixels0
    p.page.wait_for_timeout(300)
    stopped = p.epoch()
    p.page.wait_for_timeout(500)
    assert p.epoch() == stopped  # pause holds
    assert p.errors == []


def test_changing_dataset_activation_and_layers_redraws_the_network(tab):
    p = tab("hidden=4,2")
    p.wait_config("hidden", [4, 2])
    assert p.el("neuron").count() == 6
    p.el("add-layer").click()
    p.page.wait_for_function("document.querySelectorAll(\"[data-testid='neuron']\").length > 6")
    assert len(p.state()["config"]["hidden"]) == 3
    p.el("remove-layer").click()
    p.el("remove-layer").click()
    p.wait_config("hidden", [4])
    assert p.el("neuron").count() == 4
    values = "els => els.map(e => e.getAttribute('data-value'))"

    def neuron_pixels():
        return p.page.evaluate("() => [...document.querySelectorAll(\"[data-testid='neuron']\")]"
                               ".map(c => c.toDataURL()).join()")

    weights_before = p.el("weight").evaluate_all(values)
    pixels_before = neuron_pixels()
    p.el("activation").select_option("relu")
    p.wait_config("activation", "relu")
    assert "relu" in p.text("math")
    p.page.wait_for_function("s => [...document.querySelectorAll(\"[data-testid='neuron']\")]"
                             ".map(c => c.toDataURL()).join() !== s", arg=pixels_before)
    weights_relu = p.el("weight").evaluate_all(values)
    assert weights_relu != weights_before  # He initialisation for ReLU: new weights drawn
    p.el("dataset").select_option("spiral")
    p.wait_config("dataset", "spiral")
    p.page.wait_for_function("([w, f]) => JSON.stringify([...document.querySelectorAll("
                             "\"[data-testid='weight']\")].map(e => e.getAttribute("
                             "'data-value'))) !== JSON.stringify(w)", arg=[weights_relu, 0])
    assert len(p.el("weight").evaluate_all(values)) == len(weights_relu)  # same network
    assert p.epoch() == 0
    assert p.errors == []


def test_three_class_blobs_trains_past_90_percent(tab):
    p = tab("dataset=blobs&classes=3&hidden=4&lr=0.03")
    p.wait_config("classes", 3)
    p.el("play").click()
    p.page.wait_for_function(
        "Number(document.querySelector(\"[data-testid='accuracy']\").textContent) > 90",
        timeout=60_000)
    p.el("pause").click()
    assert p.number("accuracy") > 90
    assert p.el("confusion").count() == 1
    assert p.errors == []


def test_csv_upload_trains(tab, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.uniform(-3, 3, (120, 2))
    y = (X[:, 0] ** 2 + X[:, 1] ** 2 < 4).astype(int)
    path = tmp_path / "rings.csv"
    rows = "".join(f"{a:.4f},{b:.4f},{c}\n" for (a, b), c in zip(X, y, strict=True))
    path.write_text("x1,x2,label\n" + rows)
    p = tab()
    p.el("upload").set_input_files(str(path))
    p.wait_config("dataset", "custom")
    assert p.text("error") == ""
    p.step(3)
    assert p.epoch() == 3 and np.isfinite(p.number("train-loss"))
    assert p.errors == []


def test_bad_csv_shows_a_message(tab, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("x1,x2,label\n1,2,0\n3,abc,1\n")
    p = tab()
    p.el("upload").set_input_files(str(path))
    p.page.wait_for_function(
        "document.querySelector(\"[data-testid='error']\").textContent.trim().length > 0")
    message = p.text("error")
    assert "line 3" in message and "x2" in message and "abc" in message


def test_exported_model_predicts_what_the_page_reported(tab, tmp_path):
    p = tab("dataset=moons&hidden=6,4&activation=relu&lr=0.1")
    p.wait_config("dataset", "moons")
    p.step(12)
    page_loss, page_acc = p.number("test-loss"), p.number("test-accuracy")
    with p.page.expect_download() as info:
        p.el("export-model").click()
    model = tmp_path / "model.npz"
    info.value.save_as(model)
    with p.page.expect_download() as info:
        p.el("export-data").click()
    data = tmp_path / "data.csv"
    info.value.save_as(data)
    net = ffnn.load(model)
    extra = ffnn.io.read_metadata(model)["extra"]
    rows = [line.split(",") for line in data.read_text().splitlines()[1:]]
    test = np.array([[float(a), float(b), float(c)] for a, b, c, part in rows if part == "test"])
    F = feature_matrix(test[:, :2], extra["features"])
    m = ffnn.evaluate(net, F, test[:, 2], extra["loss"])
    assert round(m["loss"], 4) == pytest.approx(page_loss, abs=1e-4)
    assert round(100 * m["accuracy"], 1) == pytest.approx(page_acc, abs=0.05)
    with p.page.expect_download() as info:
        p.el("export-script").click()
    script = tmp_path / "run.py"
    info.value.save_as(script)
    assert "ffnn.fit(" in script.read_text() and "epochs=12" in script.read_text()


def test_a_url_reproduces_its_setup(tab):
    setup = "dataset=spiral&classes=4&hidden=8,5&activation=relu&lr=0.1&features=x1,x2,x1_sq" \
            "&optimizer=adam&regularization=l2&reg_rate=0.001&batch_size=15&seed=7"
    p = tab(setup)
    p.wait_config("classes", 4)
    cfg = p.state()["config"]
    assert cfg["dataset"] == "spiral" and cfg["hidden"] == [8, 5] and cfg["lr"] == 0.1
    assert cfg["features"] == ["x1", "x2", "x1_sq"] and cfg["optimizer"] == "adam"
    assert cfg["regularization"] == "l2" and cfg["batch_size"] == 15 and cfg["seed"] == 7
    assert p.el("dataset").input_value() == "spiral"
    assert p.el("activation").input_value() == "relu"
    assert float(p.el("learning-rate").input_value()) == 0.1
    # a change goes into the URL, and that URL opens the same setup elsewhere
    p.el("activation").select_option("tanh")
    p.wait_config("activation", "tanh")
    p.page.wait_for_function("location.hash.includes('activation=tanh')")
    url = p.page.url
    q = tab(url.split("#", 1)[1])
    q.wait_config("activation", "tanh")
    assert q.state()["config"] == p.state()["config"]
    assert re.search(r"hidden=8(,|%2C)5", url)


def test_gradient_check_reports_every_parameter_passing(tab):
    p = tab("dataset=spiral&classes=3&hidden=5,4&activation=tanh")
    p.wait_config("hidden", [5, 4])
    p.step(2)
    p.el("gradcheck").click()
    p.page.wait_for_function(
        "/PASSED|FAILED/.test(document.querySelector(\"[data-testid='gradcheck-report']\")"
        ".textContent)", timeout=30_000)
    report = p.text("gradcheck-report")
    assert "PASSED" in report and "FAIL" not in report.replace("FAILED", "")
    for label in ("W1", "b1", "W2", "b2", "W3", "b3"):
        assert label in report
    assert p.errors == []


def test_step_shows_the_traced_quantities(tab):
    p = tab("hidden=3")
    p.wait_config("hidden", [3])
    p.step()
    p.page.wait_for_function(
        "document.querySelector(\"[data-testid='trace']\").textContent.includes('dW1')")
    text = p.text("trace")
    for name in ("Z1", "A1", "dZ2", "dW1", "db1"):
        assert name in text


def test_a_tensorflow_playground_link_opens_the_same_setup(tab):
    tf = ("activation=relu&batchSize=15&dataset=spiral&regDataset=reg-plane&learningRate=0.1"
          "&regularizationRate=0.003&noise=10&networkShape=6,3&seed=0.12345&showTestData=true"
          "&discretize=false&percTrainData=60&x=true&y=true&xTimesY=true&xSquared=false"
          "&ySquared=false&cosX=false&sinX=true&cosY=false&sinY=false&collectStats=false"
          "&problem=classification&initZero=false&hideText=false&regularization=L2")
    p = tab(tf)
    p.wait_config("hidden", [6, 3])
    cfg = p.state()["config"]
    assert (cfg["dataset"], cfg["activation"], cfg["lr"], cfg["batch_size"]) == \
        ("spiral", "relu", 0.1, 15)
    assert (cfg["regularization"], cfg["reg_rate"], cfg["noise"], cfg["train_ratio"]) == \
        ("l2", 0.003, 10, 60)
    assert cfg["features"] == ["x1", "x2", "x1_x2", "sin_x1"] and cfg["seed"] == 12345
    assert p.el("show-test").is_checked()
    assert p.text("error") == ""
