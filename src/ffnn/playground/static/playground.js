/* ffnn playground — the page.  Plain ES2020, no modules, no libraries.
 *
 * The server trains; this page only draws what it is sent (protocol: ffnn/playground/protocol.py).
 *
 *   1. constants, colours and small helpers
 *   2. URL <-> config (the address holds the whole setup)
 *   3. the socket: connect, send, decode binary messages, dispatch
 *   4. message handlers: hello, state, status, data, frame, trace, gradcheck, error
 *   5. controls: build selects from hello.options, reflect a config, send changes
 *   6. the network drawing (features, neurons, weights: built once per structure, updated in place)
 *   7. the output: metrics, decision boundary, loss chart, confusion matrices
 *   8. the math panel: equations, traced step, gradient check
 *   9. the draw loop (requestAnimationFrame, acks) and start-up
 */
(() => {
  "use strict";

  // ================================================================ 1. constants, helpers
  const BLUE = [8, 119, 189];      // #0877bd  positive / class 1
  const ORANGE = [245, 147, 34];   // #f59322  negative / class 0
  const MID = [232, 234, 235];     // #e8eaeb  zero
  const WHITE = [255, 255, 255];
  const HEAT_ALPHA = 160 / 255;    // TF draws its heatmaps at alpha 160 over white
  const PALETTE = [[245, 147, 34], [8, 119, 189], [46, 160, 67], [142, 68, 173], [214, 39, 40], [23, 162, 184]];
  const PALETTE_CSS = PALETTE.map((c) => `rgb(${c[0]},${c[1]},${c[2]})`);

  const FEATURES_FALLBACK = [
    { id: "x1", label: "X\u2081" }, { id: "x2", label: "X\u2082" },
    { id: "x1_sq", label: "X\u2081\u00b2" }, { id: "x2_sq", label: "X\u2082\u00b2" },
    { id: "x1_x2", label: "X\u2081X\u2082" },
    { id: "sin_x1", label: "sin(X\u2081)" }, { id: "sin_x2", label: "sin(X\u2082)" },
  ];
  const FEATURE_FN = {
    x1: (x, y) => x, x2: (x, y) => y, x1_sq: (x, y) => x * x, x2_sq: (x, y) => y * y,
    x1_x2: (x, y) => x * y, sin_x1: (x, y) => Math.sin(x), sin_x2: (x, y) => Math.sin(y),
  };
  const LABELS = {
    relu: "ReLU", tanh: "Tanh", sigmoid: "Sigmoid", linear: "Linear", leaky_relu: "Leaky ReLU",
    elu: "ELU", gelu: "GELU", softplus: "Softplus",
    sgd: "SGD", momentum: "Momentum", adam: "Adam", rmsprop: "RMSprop",
    none: "None", l1: "L1", l2: "L2",
    classification: "Classification", regression: "Regression",
    circle: "Circle", xor: "Exclusive or (xor)", gaussian: "Gaussian", spiral: "Spiral",
    moons: "Moons", blobs: "Blobs", "reg-plane": "Plane", "reg-gauss": "Gaussian bump",
    custom: "Custom (uploaded or placed points)",
  };
  // the order of the keys in the address (any other config key follows them)
  const URL_ORDER = ["problem", "dataset", "classes", "noise", "train_ratio", "n_samples", "batch_size",
    "features", "hidden", "activation", "lr", "optimizer", "regularization", "reg_rate", "seed", "speed"];
  const PAGE_KEYS = ["show_test", "discretize"];

  const $ = (id) => document.getElementById(id);
  const clamp = (v, lo, hi) => (v < lo ? lo : v > hi ? hi : v);
  const isNum = (v) => typeof v === "number" && Number.isFinite(v);
  const SVGNS = "http://www.w3.org/2000/svg";
  const textDecoder = new TextDecoder("utf-8");

  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    if (attrs) for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text != null) e.textContent = text;
    return e;
  }
  function svgEl(tag, attrs) {
    const e = document.createElementNS(SVGNS, tag);
    if (attrs) for (const k in attrs) e.setAttribute(k, attrs[k]);
    return e;
  }
  function mix(a, b, t) {
    return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
  }
  /** TF's diverging scale: -1 orange, 0 light grey, +1 blue (full colour, for points and lines). */
  function diverge(t) {
    return t < 0 ? mix(MID, ORANGE, Math.min(1, -t)) : mix(MID, BLUE, Math.min(1, t));
  }
  const rgbCss = (c) => `rgb(${Math.round(c[0])},${Math.round(c[1])},${Math.round(c[2])})`;

  // heat colours (diverging, blended with white like TF's heatmaps) for t = (k - 255) / 255
  const HEAT = new Uint8ClampedArray(511 * 3);
  for (let k = 0; k < 511; k++) {
    const c = mix(WHITE, diverge((k - 255) / 255), HEAT_ALPHA);
    HEAT[3 * k] = c[0]; HEAT[3 * k + 1] = c[1]; HEAT[3 * k + 2] = c[2];
  }
  const heatIndex = (t) => clamp(Math.round(t * 255) + 255, 0, 510);

  /** 4 decimals, or "-" */
  const fmt4 = (v) => (isNum(v) ? v.toFixed(4) : "-");
  /** 4 significant digits, compact */
  function sig4(v) {
    if (!Number.isFinite(v)) return String(v);
    if (v === 0) return "0";
    const a = Math.abs(v);
    if (a >= 1e-3 && a < 1e5) return String(Number(v.toPrecision(4)));
    return v.toExponential(3);
  }
  function pct(v) {
    if (!isNum(v)) return "-";
    const p = Math.abs(v) <= 1 ? v * 100 : v;  // the server sends a fraction; accept a percentage too
    return p.toFixed(1);
  }
  function fmtBytes(n) {
    return `${String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ",")} bytes`;
  }
  function shapeText(shape) {
    if (!shape || shape.length === 0) return "()";
    if (shape.length === 1) return `(${shape[0]},)`;
    return `(${shape.join(", ")})`;
  }
  /** options may come as plain values or as {id|value, label} */
  function optItems(list) {
    if (!Array.isArray(list)) return [];
    return list.map((it) => {
      if (it !== null && typeof it === "object") {
        const v = it.id ?? it.value ?? it.name;
        return { value: String(v), label: String(it.label ?? LABELS[v] ?? v) };
      }
      return { value: String(it), label: LABELS[it] ?? String(it) };
    });
  }

  // ================================================================ app state
  const app = {
    ws: null, open: false, helloSeen: false, queue: [], closedByUs: false,
    hello: null, state: null, data: null, frame: null, config: null, playing: false,
    pending: null, pendingSeqs: [], drawScheduled: false, needBoundary: false, fallbackTimer: 0,
    history: { epoch: [], train: [], test: [] }, historyDirty: true,
    points: null,            // placed points [[x1, x2, label]], null until the first click
    showTest: false, discretize: false,
    urlConfig: {},
    errorSinceRequest: false, disconnected: false,
    outstanding: 0, desired: {},  // state-changing requests not answered yet, and their changes
    gradcheckWaiting: false,
    net: null,               // the built network drawing (see buildNetwork)
    hover: null,             // {kind: "unit", index} | {kind: "feature", id} while hovering a node
  };
  const pub = { state: null, data: null, frame: null, config: null, playing: false, hello: null,
    stats: { frames: 0, drawMs: 0 } };
  window.ffnnPlayground = pub;

  // ================================================================ 2. URL <-> config
  function parseParams(s) {
    const out = {};
    s = (s || "").replace(/^[#?]/, "");
    if (!s) return out;
    for (const part of s.split("&")) {
      if (!part) continue;
      const eq = part.indexOf("=");
      const k = decodeURIComponent((eq < 0 ? part : part.slice(0, eq)).replace(/\+/g, " "));
      const v = eq < 0 ? "" : decodeURIComponent(part.slice(eq + 1).replace(/\+/g, " "));
      if (k) out[k] = v;
    }
    return out;
  }
  const NUMBER_RE = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i;
  /** A TensorFlow Playground link (#activation=tanh&batchSize=10&dataset=circle&networkShape=4,2
   *  &learningRate=0.03&x=true&y=true&...) in this page's names; keys it does not know (cos
   *  features, initZero, ...) are left out. */
  function fromTFPlayground(raw) {
    const TF = ["networkShape", "learningRate", "batchSize", "percTrainData", "regularizationRate",
      "regDataset", "xTimesY", "xSquared", "ySquared", "sinX", "sinY", "showTestData"];
    if (!TF.some((k) => k in raw)) return raw;
    const out = {};
    const yes = (k) => raw[k] === "true";
    const rename = { learningRate: "lr", batchSize: "batch_size", percTrainData: "train_ratio",
      regularizationRate: "reg_rate", noise: "noise", activation: "activation",
      problem: "problem", discretize: "discretize", showTestData: "show_test" };
    for (const [k, v] of Object.entries(rename)) if (k in raw) out[v] = raw[k];
    if ("networkShape" in raw) out.hidden = raw.networkShape;
    if ("regularization" in raw) out.regularization = String(raw.regularization).toLowerCase() === "l1" ? "l1" :
      String(raw.regularization).toLowerCase() === "l2" ? "l2" : "none";
    const names = { gauss: "gaussian", circle: "circle", xor: "xor", spiral: "spiral" };
    if (raw.problem === "regression" && raw.regDataset) out.dataset = raw.regDataset;
    else if (raw.dataset in names) out.dataset = names[raw.dataset];
    if ("seed" in raw) out.seed = String(Math.floor(Math.abs(parseFloat(raw.seed) || 0) * 1e5) % 2147483647);
    const feats = [["x", "x1"], ["y", "x2"], ["xSquared", "x1_sq"], ["ySquared", "x2_sq"],
      ["xTimesY", "x1_x2"], ["sinX", "sin_x1"], ["sinY", "sin_x2"]].filter(([k]) => yes(k)).map(([, f]) => f);
    if (feats.length) out.features = feats.join(",");
    for (const k of ["show_test", "discretize"]) if (k in out) out[k] = out[k] === "true" ? "1" : "0";
    return out;
  }
  function configFromURL() {
    const raw = fromTFPlayground(Object.assign(parseParams(location.search), parseParams(location.hash)));
    const cfg = {};
    const page = {};
    for (const [k, v] of Object.entries(raw)) {
      if (PAGE_KEYS.includes(k)) { page[k] = v === "1" || v === "true"; continue; }
      if (k === "features") cfg[k] = v.split(",").map((s) => s.trim()).filter(Boolean);
      else if (k === "hidden") cfg[k] = v.split(",").map((s) => s.trim()).filter(Boolean).map(Number).filter((n) => Number.isFinite(n));
      else if (NUMBER_RE.test(v)) cfg[k] = Number(v);
      else cfg[k] = v;
    }
    if (cfg.dataset === "custom") delete cfg.dataset;  // placed/uploaded points cannot travel in a link
    return { cfg, page };
  }
  function encodeValue(v) {
    if (Array.isArray(v)) return v.map((x) => encodeURIComponent(String(x))).join(",");
    return encodeURIComponent(String(v));
  }
  function writeURL() {
    const c = app.config;
    if (!c) return;
    const keys = URL_ORDER.filter((k) => k in c).concat(Object.keys(c).filter((k) => !URL_ORDER.includes(k)));
    const parts = keys.map((k) => `${k}=${encodeValue(c[k])}`);
    parts.push(`show_test=${app.showTest ? 1 : 0}`, `discretize=${app.discretize ? 1 : 0}`);
    const url = `${location.pathname}${location.search}#${parts.join("&")}`;
    try { history.replaceState(null, "", url); } catch (e) { /* file:// or sandboxed: ignore */ }
  }

  // ================================================================ 3. the socket
  function setConn(kind, text) {
    const c = $("conn");
    c.classList.toggle("ok", kind === "ok");
    c.classList.toggle("bad", kind === "bad");
    $("conn-text").textContent = text;
  }

  function connect() {
    if (!location.host) { setConn("bad", "no server"); showError("open this page from the playground server (ffnn playground)"); return; }
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    let ws;
    try { ws = new WebSocket(`${proto}//${location.host}/ws`); } catch (e) { onClosed(); return; }
    ws.binaryType = "arraybuffer";
    app.ws = ws;
    setConn("", "connecting…");
    ws.onopen = () => { app.open = true; setConn("ok", "connected"); };
    ws.onmessage = (ev) => {
      try {
        if (typeof ev.data === "string") onText(ev.data);
        else onBinary(ev.data);
      } catch (e) {
        showError(`page: could not handle a message (${e && e.message ? e.message : e})`);
      }
    };
    ws.onclose = () => onClosed();
    ws.onerror = () => { /* onclose follows */ };
  }
  function onClosed() {
    app.open = false;
    app.disconnected = true;
    setConn("bad", "disconnected");
    if (app.playing) { app.playing = false; pub.playing = false; updatePlayingUI(); }
    const e = $("error");
    e.textContent = "disconnected \u2014 reload";
    e.classList.add("reload");
    e.title = "click to reload the page";
  }
  function send(msg) {
    if (app.open && app.helloSeen && app.ws && app.ws.readyState === 1) {
      app.ws.send(JSON.stringify(msg));
      return true;
    }
    if (!app.disconnected && msg.type !== "ack" && msg.type !== "ping") app.queue.push(msg);
    return false;
  }
  /** a request whose answer is a new state (or an error): errors arriving after it keep the
   *  error area.  Until every such request is answered, the changes sent are kept in
   *  app.desired, so quick clicks (two "remove layer"s) build on each other, not on a stale state. */
  function request(msg) {
    app.errorSinceRequest = false;
    app.outstanding += 1;
    send(msg);
  }
  function sendConfig(partial) {
    Object.assign(app.desired, partial);
    request({ type: "config", config: partial });
  }
  function answered() {
    app.outstanding = Math.max(0, app.outstanding - 1);
    if (app.outstanding === 0) app.desired = {};
  }
  /** a setting as it will be once the server has answered everything sent */
  function wanted(key) {
    if (key in app.desired) return app.desired[key];
    return app.config ? app.config[key] : undefined;
  }

  /** binary message -> header fields at top level, typed-array views in .arrays */
  function decodeBinary(buf) {
    const dv = new DataView(buf);
    const n = dv.getUint32(0, true);
    const head = JSON.parse(textDecoder.decode(new Uint8Array(buf, 4, n)));
    const arrays = {};
    for (const s of head.arrays || []) {
      const count = (s.shape || []).reduce((a, b) => a * b, 1);
      const shape = s.shape || [];
      let data = null;
      const off = s.offset;
      if (s.dtype === "uint8") data = new Uint8Array(buf, off, count);
      else if (s.dtype === "float32") data = off % 4 === 0 ? new Float32Array(buf, off, count) : new Float32Array(buf.slice(off, off + 4 * count));
      else if (s.dtype === "int32") data = off % 4 === 0 ? new Int32Array(buf, off, count) : new Int32Array(buf.slice(off, off + 4 * count));
      if (data) arrays[s.name] = { data, shape };
    }
    const out = Object.assign({}, head);
    out.specs = head.arrays || [];
    out.arrays = arrays;
    return out;
  }

  function onText(text) {
    let msg;
    try { msg = JSON.parse(text); } catch (e) { return; }
    if (!msg || typeof msg !== "object") return;
    switch (msg.type) {
      case "hello": onHello(msg); break;
      case "state": onState(msg); break;
      case "status": onStatus(msg); break;
      case "error": onError(msg); break;
      case "gradcheck": onGradcheck(msg); break;
      case "pong": break;
      default: break;  // unknown types are ignored
    }
  }
  function onBinary(buf) {
    if (!(buf instanceof ArrayBuffer) || buf.byteLength < 4) return;
    const m = decodeBinary(buf);
    switch (m.type) {
      case "frame": onFrame(m); break;
      case "data": onData(m); break;
      case "trace": onTrace(m); break;
      default: break;
    }
  }

  // ================================================================ 4. handlers
  function onHello(msg) {
    app.hello = msg;
    pub.hello = msg;
    app.helloSeen = true;
    buildOptions(msg.options || {});
    if (msg.session != null) {
      const base = `/api/session/${encodeURIComponent(msg.session)}`;
      for (const [id, file] of [["export-model", "model.npz"], ["export-script", "script.py"], ["export-data", "data.csv"]]) {
        const a = $(id);
        a.href = `${base}/${file}`;
        a.classList.remove("disabled");
      }
    }
    // the first config comes from the address ({} when it is empty: the defaults apply)
    const cfg = {};
    const allowed = msg.defaults && typeof msg.defaults === "object" ? Object.keys(msg.defaults) : null;
    for (const [k, v] of Object.entries(app.urlConfig)) if (!allowed || allowed.includes(k)) cfg[k] = v;
    app.firstConfig = cfg;
    request({ type: "config", config: cfg });
    const q = app.queue.splice(0);
    for (const m of q) send(m);
    if (!app.pingTimer) app.pingTimer = setInterval(() => send({ type: "ping" }), 25000);
  }

  function onState(msg) {
    answered();
    app.state = msg;
    pub.state = msg;
    if (msg.config && typeof msg.config === "object") {
      app.config = msg.config;
      pub.config = msg.config;
    }
    if (!app.errorSinceRequest && !app.disconnected) clearError();
    const cfg = Object.assign({}, app.config || {}, app.desired);
    if (cfg.dataset !== "custom" && !app.pointsUnsent) app.points = null;
    if (typeof msg.playing === "boolean") { app.playing = msg.playing; pub.playing = msg.playing; updatePlayingUI(); }
    updatePlacedCount();
    reflectConfig(cfg);
    writeURL();
    // notices: settings the server adjusted
    const box = $("notices");
    box.textContent = "";
    for (const n of Array.isArray(msg.notices) ? msg.notices : []) box.appendChild(el("div", null, String(n)));
    if (isNum(msg.epoch)) $("epoch").textContent = String(msg.epoch);
    if (msg.epoch === 0) {
      clearTrace();
      if (!app.gradcheckWaiting) $("gradcheck-report").textContent = "";
    }
    renderMath(msg);
    ensureNetwork();
  }

  function onStatus(msg) {
    if (typeof msg.playing === "boolean") {
      app.playing = msg.playing;
      pub.playing = msg.playing;
      updatePlayingUI();
    }
  }

  function onError(msg) {
    if (["config", "upload", "points", "reset"].includes(msg.source)) answered();
    app.errorSinceRequest = true;
    showError(formatError(msg));
    if (msg.source === "gradcheck") {
      app.gradcheckWaiting = false;
      const r = $("gradcheck-report");
      r.textContent = "";
      r.appendChild(el("p", { class: "gc-fail" }, `could not check: ${msg.message || "error"}`));
    }
    if (msg.source === "config" && app.config) reflectConfig(app.config);  // back to what is in force
    if (msg.source === "config" && !app.state && app.firstConfig) retryFirstConfig(String(msg.message || ""));
  }
  /** the address asked for something the server refuses: drop the setting it names (or all) and
   *  ask again, keeping the error on screen so the learner knows what was ignored */
  function retryFirstConfig(message) {
    const cfg = app.firstConfig;
    const keys = Object.keys(cfg);
    const bad = keys.find((k) => message.startsWith(`${k} `) || message.startsWith(`${k}:`)) ||
      keys.find((k) => new RegExp(`\\b${k}\\b`).test(message));
    const next = {};
    if (bad) for (const k of keys) if (k !== bad) next[k] = cfg[k];
    app.firstConfig = Object.keys(next).length && bad ? next : null;
    const keep = app.errorSinceRequest;
    request({ type: "config", config: app.firstConfig || {} });
    app.errorSinceRequest = keep;  // the error about the address stays on screen
  }
  function formatError(m) {
    const message = String(m.message ?? "error");
    const loc = [];
    // the server's CSV messages already start "line 7, column 'x2': ..."; add the place only when missing
    if (!/\b(line|column)\b/.test(message)) {
      if (m.line != null) loc.push(`line ${m.line}`);
      if (m.column != null && m.column !== "") loc.push(`column ${m.column}`);
    }
    const prefix = m.source && !message.startsWith(`${m.source}:`) ? `${m.source}: ` : "";
    return prefix + (loc.length ? `${loc.join(", ")}: ` : "") + message;
  }
  function showError(text) {
    const e = $("error");
    if (app.disconnected) return;  // "disconnected — reload" stays
    e.textContent = text;
  }
  function clearError() { $("error").textContent = ""; }

  function onData(m) {
    app.data = m;
    pub.data = m;
    updateDataUI();
    drawFeatureHeatmaps();
    app.needBoundary = true;
    requestDraw();
  }

  function onFrame(f) {
    // loss history: every received frame counts, drawn or not
    const h = app.history;
    const ep = f.epoch;
    if (isNum(ep)) {
      const last = h.epoch.length ? h.epoch[h.epoch.length - 1] : -1;
      if (ep === 0 || ep < last) { h.epoch.length = 0; h.train.length = 0; h.test.length = 0; }
      const tr = isNum(f.train_loss) ? f.train_loss : NaN;
      const te = isNum(f.test_loss) ? f.test_loss : NaN;
      if (h.epoch.length && h.epoch[h.epoch.length - 1] === ep) {
        h.train[h.train.length - 1] = tr; h.test[h.test.length - 1] = te;
      } else { h.epoch.push(ep); h.train.push(tr); h.test.push(te); }
      if (h.epoch.length > 4000) {  // keep it light: every other point of the older half
        const keep = (arr) => arr.filter((_, i) => i >= arr.length / 2 || i % 2 === 0);
        h.epoch = keep(h.epoch); h.train = keep(h.train); h.test = keep(h.test);
      }
      app.historyDirty = true;
    }
    if (typeof f.playing === "boolean" && f.playing !== app.playing) {
      app.playing = f.playing; pub.playing = f.playing; updatePlayingUI();
    }
    app.pending = f;
    if (isNum(f.seq)) app.pendingSeqs.push(f.seq);
    requestDraw();
  }

  // ================================================================ 5. controls
  const SELECTS = {
    lr: "sel-lr", activation: "sel-activation", optimizer: "sel-optimizer", regularization: "sel-regularization",
    reg_rate: "sel-reg-rate", problem: "sel-problem", classes: "sel-classes", speed: "sel-speed", dataset: "sel-dataset",
    n_samples: "sel-n-samples",
  };
  const NUMERIC = new Set(["lr", "reg_rate", "classes", "speed", "noise", "train_ratio", "batch_size", "seed", "n_samples"]);
  const SLIDERS = { train_ratio: ["rng-train-ratio", "val-train-ratio"], noise: ["rng-noise", "val-noise"], batch_size: ["rng-batch-size", "val-batch-size"] };

  function fillSelect(sel, items) {
    if (!items.length) return;
    const current = sel.value;
    sel.textContent = "";
    for (const it of items) sel.appendChild(el("option", { value: it.value }, it.label));
    setSelect(sel, current);
  }
  function setSelect(sel, value) {
    if (value == null) return;
    const v = String(value);
    let found = false;
    for (const o of sel.options) if (o.value === v) { found = true; break; }
    if (!found) {
      // a value from the server or the address that is not in the list: show it anyway
      sel.appendChild(el("option", { value: v, "data-extra": "1" }, LABELS[v] ?? v));
    }
    sel.value = v;
  }
  function featureOptions() {
    const o = app.hello && app.hello.options && app.hello.options.features;
    const items = optItems(o);
    return items.length ? items.map((it) => ({ id: it.value, label: it.label })) : FEATURES_FALLBACK;
  }

  function buildOptions(opts) {
    for (const key of ["lr", "activation", "optimizer", "regularization", "reg_rate", "problem"]) {
      if (opts[key]) fillSelect($(SELECTS[key]), optItems(opts[key]));
    }
    // data sets grouped by problem, "custom" always present
    const ds = opts.dataset;
    if (ds) {
      const sel = $("sel-dataset");
      const current = sel.value;
      const groups = [];
      if (Array.isArray(ds)) groups.push(["Data sets", optItems(ds)]);
      else {
        if (ds.classification) groups.push(["Classification", optItems(ds.classification)]);
        if (ds.regression) groups.push(["Regression", optItems(ds.regression)]);
        for (const [k, v] of Object.entries(ds)) if (k !== "classification" && k !== "regression" && Array.isArray(v)) groups.push([k, optItems(v)]);
      }
      if (groups.some((g) => g[1].length)) {
        sel.textContent = "";
        const seen = new Set();
        for (const [label, items] of groups) {
          const g = el("optgroup", { label });
          for (const it of items) if (!seen.has(it.value)) { seen.add(it.value); g.appendChild(el("option", { value: it.value }, it.label)); }
          if (g.children.length) sel.appendChild(g);
        }
        if (!seen.has("custom")) {
          const g = el("optgroup", { label: "Your own" });
          g.appendChild(el("option", { value: "custom" }, LABELS.custom));
          sel.appendChild(g);
        }
        setSelect(sel, current);
      }
    }
    const lim = (app.hello && app.hello.limits) || {};
    if (isNum(lim.max_classes) && lim.max_classes >= 2) {
      const items = [];
      for (let k = 2; k <= lim.max_classes; k++) items.push({ value: String(k), label: String(k) });
      fillSelect($("sel-classes"), items);
    }
    if (opts.classes && Array.isArray(opts.classes)) fillSelect($("sel-classes"), optItems(opts.classes));
    if (opts.speed && Array.isArray(opts.speed)) fillSelect($("sel-speed"), optItems(opts.speed));
    if (app.net) app.net.key = "";  // feature labels may have changed
  }

  function reflectConfig(c) {
    for (const [key, id] of Object.entries(SELECTS)) if (c[key] != null) setSelect($(id), c[key]);
    for (const [key, [rid, vid]] of Object.entries(SLIDERS)) {
      if (!isNum(c[key])) continue;
      const r = $(rid);
      if (c[key] < Number(r.min)) r.min = String(c[key]);
      if (c[key] > Number(r.max)) r.max = String(c[key]);
      r.value = String(c[key]);
      $(vid).textContent = String(c[key]);
    }
    if (c.seed != null && document.activeElement !== $("inp-seed")) $("inp-seed").value = String(c.seed);
    document.body.classList.toggle("regression", c.problem === "regression");
    const hidden = Array.isArray(c.hidden) ? c.hidden : [];
    $("n-layers").textContent = String(hidden.length);
    $("n-layers-word").textContent = hidden.length === 1 ? "hidden layer" : "hidden layers";
    // feature checkboxes (in the network drawing)
    const on = new Set(Array.isArray(c.features) ? c.features : []);
    for (const cb of document.querySelectorAll('input[data-testid="feature"]')) cb.checked = on.has(cb.dataset.feature);
    for (const n of document.querySelectorAll(".node.feature")) n.classList.toggle("off", !on.has(n.dataset.feature));
    updatePlaceClassOptions();
  }

  function updatePlayingUI() {
    $("btn-play").classList.toggle("active", app.playing);
    $("btn-play").setAttribute("aria-pressed", app.playing ? "true" : "false");
  }

  function currentHidden() {
    const h = wanted("hidden");
    return Array.isArray(h) ? h.slice() : [];
  }
  function limits() {
    const l = (app.hello && app.hello.limits) || {};
    return { maxLayers: isNum(l.max_layers) ? l.max_layers : 8, maxNeurons: isNum(l.max_neurons) ? l.max_neurons : 16,
      maxUpload: isNum(l.max_upload_bytes) ? l.max_upload_bytes : null, maxPoints: isNum(l.max_points) ? l.max_points : null };
  }

  function bindControls() {
    $("btn-play").addEventListener("click", () => send({ type: "play" }));
    $("btn-pause").addEventListener("click", () => send({ type: "pause" }));
    $("btn-step").addEventListener("click", () => {
      send({ type: "step" });
      const t = $("trace");
      if (!t.querySelector(".trace-grid")) { t.textContent = ""; t.appendChild(el("p", { class: "muted" }, "stepping…")); }
    });
    $("btn-reset").addEventListener("click", () => request({ type: "reset" }));

    for (const [key, id] of Object.entries(SELECTS)) {
      $(id).addEventListener("change", (ev) => {
        const raw = ev.target.value;
        if (key === "dataset" || key === "problem") { app.points = null; app.pointsUnsent = false; updatePlacedCount(); }
        sendConfig({ [key]: NUMERIC.has(key) ? Number(raw) : raw });
      });
    }
    for (const [key, [rid, vid]] of Object.entries(SLIDERS)) {
      const r = $(rid);
      r.addEventListener("input", () => { $(vid).textContent = r.value; });
      r.addEventListener("change", () => sendConfig({ [key]: Number(r.value) }));
    }
    $("inp-seed").addEventListener("change", (ev) => {
      const v = Math.round(Number(ev.target.value));
      if (Number.isFinite(v)) sendConfig({ seed: v });
    });
    $("btn-regenerate").addEventListener("click", () => {
      const seed = Math.floor(Math.random() * 100000);
      $("inp-seed").value = String(seed);
      sendConfig({ seed });
    });

    $("btn-add-layer").addEventListener("click", () => {
      const h = currentHidden();
      if (h.length >= limits().maxLayers) { showError(`at most ${limits().maxLayers} hidden layers`); return; }
      h.push(2);
      sendConfig({ hidden: h });
    });
    $("btn-remove-layer").addEventListener("click", () => {
      const h = currentHidden();
      if (!h.length) return;
      h.pop();
      sendConfig({ hidden: h });
    });
    $("layer-controls").addEventListener("click", (ev) => {
      const b = ev.target.closest("button[data-layer]");
      if (!b) return;
      const l = Number(b.dataset.layer);
      const h = currentHidden();
      if (!(l >= 0 && l < h.length)) return;
      if (b.dataset.testid === "add-neuron") {
        if (h[l] >= limits().maxNeurons) { showError(`at most ${limits().maxNeurons} neurons per layer`); return; }
        h[l] += 1;
      } else {
        if (h[l] <= 1) return;
        h[l] -= 1;
      }
      sendConfig({ hidden: h });
    });

    $("chk-show-test").addEventListener("change", (ev) => { app.showTest = ev.target.checked; app.needBoundary = true; requestDraw(); writeURL(); });
    $("chk-discretize").addEventListener("change", (ev) => { app.discretize = ev.target.checked; app.needBoundary = true; requestDraw(); writeURL(); });

    $("inp-upload").addEventListener("change", async (ev) => {
      const inp = ev.target;
      const file = inp.files && inp.files[0];
      if (!file) return;
      const max = limits().maxUpload;
      if (max != null && file.size > max) {
        app.errorSinceRequest = true;
        showError(`upload: ${file.name} is ${fmtBytes(file.size)}; the limit is ${fmtBytes(max)}`);
        inp.value = "";
        return;
      }
      let text;
      try { text = await file.text(); } catch (e) { showError(`upload: could not read ${file.name}`); return; }
      app.points = null;
      app.pointsUnsent = false;
      request({ type: "upload", name: file.name, text });
      inp.value = "";
    });

    $("chk-place").addEventListener("change", (ev) => document.body.classList.toggle("placing", ev.target.checked));
    $("btn-clear-points").addEventListener("click", () => {
      app.points = [];
      $("chk-place").checked = true;
      document.body.classList.add("placing");
      sendPoints();
    });
    const b = $("boundary");
    b.addEventListener("click", onBoundaryClick);
    b.addEventListener("mousemove", onBoundaryHover);
    b.addEventListener("mouseleave", hideTip);
    $("error").addEventListener("click", () => { if (app.disconnected) location.reload(); });
  }

  function updatePlaceClassOptions() {
    const sel = $("sel-place-class");
    const k = PALETTE.length;  // the server takes labels 0..5
    if (sel.options.length === k) return;
    sel.textContent = "";
    for (let i = 0; i < k; i++) {
      const o = el("option", { value: String(i) }, `class ${i}`);
      o.style.color = PALETTE_CSS[i];
      sel.appendChild(o);
    }
    sel.value = "1";
  }
  function updatePlacedCount() {
    const n = app.points ? app.points.length : 0;
    $("placed-count").textContent = String(n);
    const regression = (app.config && app.config.problem) === "regression";
    $("place-hint").textContent = app.pointsUnsent
      ? (regression ? " Place at least two points to train on them." : " Place at least two points of two classes to train on them.")
      : "";
  }

  /** the plane's coordinates under a mouse event on the boundary canvas */
  function planeAt(ev) {
    const d = app.data;
    const dom = d && Array.isArray(d.domain) ? d.domain : [-6, 6, -6, 6];
    const r = ev.target.getBoundingClientRect();
    const u = clamp((ev.clientX - r.left) / r.width, 0, 1);
    const v = clamp((ev.clientY - r.top) / r.height, 0, 1);
    return { x: dom[0] + u * (dom[1] - dom[0]), y: dom[3] - v * (dom[3] - dom[2]), u, v };
  }
  function onBoundaryClick(ev) {
    if (!$("chk-place").checked) return;
    const p = planeAt(ev);
    const regression = (app.config && app.config.problem) === "regression";
    const label = regression ? Number($("inp-place-target").value) : Number($("sel-place-class").value || 0);
    if (!Number.isFinite(label)) { showError("points: the target value is not a number"); return; }
    if (app.points == null) {
      // the first click adds to the points on the plane; "clear points" starts from an empty plane
      app.points = seedPoints(regression);
    }
    const max = limits().maxPoints;
    if (max != null && app.points.length >= max) { showError(`points: at most ${max} points`); return; }
    app.points.push([round6(p.x), round6(p.y), regression ? label : Math.round(label)]);
    sendPoints();
  }
  /** the points on the plane now, as [[x1, x2, label]] (labels as placed where they are numbers) */
  function seedPoints(regression) {
    const out = [];
    const d = app.data;
    if (!d || !d.arrays) return out;
    const names = Array.isArray(d.class_names) ? d.class_names : [];
    const useNames = names.length > 0 && names.every((n) => /^\d+$/.test(String(n)) && Number(n) < PALETTE.length);
    for (const [xn, yn] of [["train_x", "train_y"], ["test_x", "test_y"]]) {
      const X = d.arrays[xn], Y = d.arrays[yn];
      if (!X || !Y) continue;
      for (let i = 0; i < Y.data.length; i++) {
        const y = Y.data[i];
        const lab = regression ? round6(y) : useNames ? Number(names[Math.round(y)]) : Math.round(y);
        out.push([round6(X.data[2 * i]), round6(X.data[2 * i + 1]), lab]);
      }
    }
    return out;
  }
  /** send the placed points once they make a data set (the server needs 2 points, 2 classes) */
  function sendPoints() {
    const pts = app.points || [];
    const regression = (app.config && app.config.problem) === "regression";
    const classes = new Set(pts.map((q) => q[2]));
    const ok = pts.length >= 2 && (regression || classes.size >= 2);
    app.pointsUnsent = !ok;
    updatePlacedCount();
    if (ok) request({ type: "points", points: pts });
    else { app.needBoundary = true; requestDraw(); }
  }
  const round6 = (v) => Math.round(v * 1e6) / 1e6;

  function onBoundaryHover(ev) {
    const f = app.frame, d = app.data;
    if (!f || !d) return;
    const p = planeAt(ev);
    const out = f.arrays.output;
    if (!out) return;
    const G = out.shape[0] || d.grid;
    const c = clamp(Math.floor(p.u * G), 0, G - 1), r = clamp(Math.floor(p.v * G), 0, G - 1);
    const q = out.data[r * G + c];
    let txt = `x\u2081 = ${p.x.toFixed(2)}, x\u2082 = ${p.y.toFixed(2)}\n`;
    if (mode() === "regression") {
      const rg = f.arrays.output_range ? f.arrays.output_range.data : [0, 1];
      txt += `prediction = ${sig4(rg[0] + (q * (rg[1] - rg[0])) / 255)}`;
    } else if (mode() === "multiclass" && f.arrays.output_class) {
      const k = f.arrays.output_class.data[r * G + c];
      txt += `predicted ${className(k)}, p = ${(q / 255).toFixed(2)}`;
    } else {
      txt += `P(${className(1)}) = ${(q / 255).toFixed(3)}`;
    }
    if ($("chk-place").checked) txt += "\nclick to add a point here";
    showTip(txt, ev.clientX, ev.clientY);
  }
  function shortName(k) {
    const names = app.data && Array.isArray(app.data.class_names) ? app.data.class_names : [];
    return names[k] != null ? String(names[k]) : String(k);
  }
  function className(k) {
    const names = app.data && Array.isArray(app.data.class_names) ? app.data.class_names : [];
    return names[k] != null ? `class ${names[k]}` : `class ${k}`;
  }

  // ---------------------------------------------------------------- tooltip
  function showTip(text, x, y) {
    const t = $("tooltip");
    t.textContent = text;
    t.style.display = "block";
    const w = t.offsetWidth, h = t.offsetHeight;
    let left = x + 14, top = y + 14;
    if (left + w > window.innerWidth - 4) left = x - w - 10;
    if (top + h > window.innerHeight - 4) top = y - h - 10;
    t.style.left = `${Math.max(2, left)}px`;
    t.style.top = `${Math.max(2, top)}px`;
  }
  function hideTip() { $("tooltip").style.display = "none"; }

  // ================================================================ 6. the network drawing
  /** the structure to draw: from the frame's weight shapes when there is a frame, else from the state */
  function wantedStructure() {
    const st = app.state || {};
    const net = st.network || {};
    const c = app.config || {};
    // the state's sizes (drawn as soon as the state arrives); the frame's weight shapes when
    // there is no state yet
    let sizes = null;
    const f = app.frame || app.pending;
    if (Array.isArray(net.sizes) && net.sizes.length >= 2 && net.sizes.every((v) => isNum(v))) sizes = net.sizes;
    else if (f && f.arrays && f.arrays.W1) {
      sizes = [f.arrays.W1.shape[0]];
      for (let l = 1; f.arrays[`W${l}`]; l++) sizes.push(f.arrays[`W${l}`].shape[1]);
    }
    if (!sizes) return null;
    const all = featureOptions();
    const ids = all.map((x) => x.id);
    let enabled = Array.isArray(net.features) ? net.features : Array.isArray(c.features) ? c.features : [];
    enabled = enabled.map((e, i) => {
      if (ids.includes(e)) return e;
      const byLabel = all.find((x) => x.label === e);
      if (byLabel) return byLabel.id;
      return Array.isArray(c.features) && c.features[i] != null ? c.features[i] : e;
    });
    if (enabled.length !== sizes[0]) enabled = (Array.isArray(c.features) ? c.features : []).slice(0, sizes[0]);
    return { sizes, all, enabled, problem: c.problem || "classification", output: net.output || "" };
  }

  function ensureNetwork() {
    const s = wantedStructure();
    if (!s) return;
    const box = $("network");
    const width = Math.max(300, Math.round(sizeOf(box).w || 600));
    const key = JSON.stringify([s.sizes, s.all, s.enabled, s.problem, width]);
    if (app.net && app.net.key === key) return;
    buildNetwork(s, width, key);
    if (app.frame) { updateNetwork(app.frame); }
    drawFeatureHeatmaps();
  }

  function buildNetwork(s, W, key) {
    const box = $("network");
    const svg = $("links");
    // clear old nodes (keep the svg)
    for (const n of Array.from(box.children)) if (n !== svg) n.remove();
    svg.textContent = "";
    const ctl = $("layer-controls");
    ctl.textContent = "";

    const L = s.sizes.length - 2;                  // hidden layers
    const hidden = s.sizes.slice(1, -1);
    const nOut = s.sizes[s.sizes.length - 1];
    const nFeat = s.all.length;
    const maxRows = Math.max(nFeat, ...hidden, nOut, 1);
    const labelW = 74;
    let size = maxRows <= 8 ? 34 : maxRows <= 12 ? 28 : 22;
    const outSize = Math.min(size, 26);
    const c0 = labelW + size / 2;
    const cOut = W - outSize / 2 - 34;
    const gap = (cOut - c0) / (L + 1);
    size = Math.max(14, Math.min(size, Math.floor(gap * 0.5)));
    const rowH = size + Math.max(8, Math.round(size * 0.38));
    const top = 8;
    const height = top + maxRows * rowH + 10;
    box.style.height = `${height}px`;
    svg.setAttribute("width", String(W));
    svg.setAttribute("height", String(height));
    svg.setAttribute("viewBox", `0 0 ${W} ${height}`);
    const colX = [c0];
    for (let l = 0; l < L; l++) colX.push(c0 + (l + 1) * gap);
    colX.push(cOut);
    const rowY = (i, s_) => top + i * rowH + s_ / 2;   // centre of row i for a node of size s_

    const gHits = svgEl("g", { class: "whits" });     // wide transparent hover areas, under the lines
    const gLinks = svgEl("g", { class: "wlines" });
    svg.appendChild(gHits);
    svg.appendChild(gLinks);

    const net = { key, sizes: s.sizes, enabled: s.enabled, all: s.all, links: [], neurons: [], biases: [], featureCanvases: {},
      outCanvas: null, outNodes: [], size, nOut, layerOffsets: [] };

    // --- feature column: every available feature; the unchecked ones dimmed
    const featRow = {};
    s.all.forEach((ft, i) => {
      featRow[ft.id] = i;
      const on = s.enabled.includes(ft.id);
      const node = el("div", { class: `node feature${on ? "" : " off"}`, "data-feature": ft.id, title: "" });
      node.style.left = `${colX[0] - size / 2}px`;
      node.style.top = `${rowY(i, size) - size / 2}px`;
      node.style.width = node.style.height = `${size}px`;
      const cv = el("canvas", { width: "16", height: "16", "data-testid": "feature-map", "data-feature": ft.id });
      node.appendChild(cv);
      box.appendChild(node);
      net.featureCanvases[ft.id] = cv;
      const lab = el("label", { class: "feat-label", title: `feed ${ft.label} into the network` });
      const cb = el("input", { type: "checkbox", "data-testid": "feature", "data-feature": ft.id });
      cb.checked = on;
      lab.appendChild(cb);
      lab.appendChild(document.createTextNode(ft.label));
      lab.style.right = `${W - (colX[0] - size / 2) + 6}px`;
      lab.style.top = `${rowY(i, size)}px`;
      box.appendChild(lab);
      cb.addEventListener("change", () => sendFeatures());
      node.addEventListener("click", () => { cb.checked = !cb.checked; sendFeatures(); });
    });

    // --- hidden columns
    let unit = 0;
    for (let l = 0; l < L; l++) {
      net.layerOffsets.push(unit);
      for (let j = 0; j < hidden[l]; j++) {
        const node = el("div", { class: "node neuron", "data-layer": String(l), "data-unit": String(j), "data-index": String(unit) });
        node.style.left = `${colX[l + 1] - size / 2}px`;
        node.style.top = `${rowY(j, size) - size / 2}px`;
        node.style.width = node.style.height = `${size}px`;
        const cv = el("canvas", { width: "16", height: "16", "data-testid": "neuron", "data-layer": String(l), "data-unit": String(j) });
        node.appendChild(cv);
        const bias = el("div", { class: "bias" });
        node.appendChild(bias);
        box.appendChild(node);
        net.neurons.push(cv);
        net.biases.push(bias);
        unit++;
      }
      // per-layer buttons above the column
      const c = el("div", { class: "layer-ctl" });
      c.style.left = `${colX[l + 1]}px`;
      const btns = el("div", { class: "btns" });
      btns.appendChild(el("button", { type: "button", class: "round-btn small", "data-testid": "add-neuron", "data-layer": String(l), title: `add a neuron to hidden layer ${l + 1}` }, "+"));
      btns.appendChild(el("button", { type: "button", class: "round-btn small", "data-testid": "remove-neuron", "data-layer": String(l), title: `remove a neuron from hidden layer ${l + 1}` }, "\u2212"));
      c.appendChild(btns);
      c.appendChild(el("div", { class: "cnt" }, `${hidden[l]} neuron${hidden[l] === 1 ? "" : "s"}`));
      ctl.appendChild(c);
    }

    // --- output nodes
    const xo = colX[colX.length - 1];
    for (let j = 0; j < nOut; j++) {
      const node = el("div", { class: "node out-node", "data-output": String(j) });
      node.style.left = `${xo - outSize / 2}px`;
      node.style.top = `${rowY(j, size) - outSize / 2}px`;
      node.style.width = node.style.height = `${outSize}px`;
      if (nOut === 1) {
        const cv = el("canvas", { width: "16", height: "16", "data-testid": "output-node" });
        node.appendChild(cv);
        net.outCanvas = cv;
        const lab = el("div", { class: "out-label below" }, s.problem === "regression" ? "value" : `P(${className(1)})`);
        lab.style.left = `${xo}px`;
        lab.style.top = `${rowY(j, size) + outSize / 2 + 8}px`;
        box.appendChild(lab);
      } else {
        node.style.background = PALETTE_CSS[j % PALETTE.length];
        node.title = className(j);
        const lab = el("div", { class: "out-label" }, String(j));
        lab.style.left = `${xo + outSize / 2 + 4}px`;
        lab.style.top = `${rowY(j, size)}px`;
        box.appendChild(lab);
      }
      box.appendChild(node);
      net.outNodes.push(node);
      // a dashed lead to the OUTPUT panel
      const y = rowY(j, size);
      const lead = xo + outSize / 2 + (nOut === 1 ? 2 : 16);
      svg.appendChild(svgEl("path", { class: "out-link", d: `M${lead} ${y} L${W} ${y}` }));
    }

    // --- weight lines: W_l[i, j] from unit i of layer l-1 to unit j of layer l
    const nLayers = s.sizes.length - 1;
    for (let l = 1; l <= nLayers; l++) {
      const din = s.sizes[l - 1], dout = s.sizes[l];
      const isOut = l === nLayers;
      const sIn = size, sOut = isOut ? outSize : size;
      for (let i = 0; i < din; i++) {
        let x1, y1, fromName;
        if (l === 1) {
          const fid = s.enabled[i];
          const row = featRow[fid] ?? i;
          x1 = colX[0] + sIn / 2; y1 = rowY(row, size);
          const ft = s.all.find((x) => x.id === fid);
          fromName = ft ? ft.label : String(fid);
        } else {
          x1 = colX[l - 1] + sIn / 2; y1 = rowY(i, size);
          fromName = `neuron ${i} of hidden layer ${l - 1}`;
        }
        for (let j = 0; j < dout; j++) {
          const x2 = colX[l] - sOut / 2, y2 = rowY(j, size);
          const mx = (x1 + x2) / 2;
          const d = `M${x1.toFixed(1)} ${y1.toFixed(1)} C${mx.toFixed(1)} ${y1.toFixed(1)} ${mx.toFixed(1)} ${y2.toFixed(1)} ${x2.toFixed(1)} ${y2.toFixed(1)}`;
          const path = svgEl("path", { class: "w", d, "data-testid": "weight", "data-name": `W${l}`, "data-i": String(i), "data-j": String(j),
            "data-value": "0", "data-k": String(net.links.length), stroke: "#ccc", "stroke-width": "0.5" });
          const title = svgEl("title");
          title.appendChild(document.createTextNode(`W${l}[${i},${j}]`));
          path.appendChild(title);
          gLinks.appendChild(path);
          const k = net.links.length;
          const hit = svgEl("path", { class: "hit", d, "data-k": String(k) });
          gHits.appendChild(hit);
          const toName = isOut ? (dout === 1 ? "the output" : `output ${j} (${className(j)})`) : `neuron ${j} of hidden layer ${l}`;
          net.links.push({ path, text: title.firstChild, l, i, j, dout, sign: 0, width: -1, w: NaN, from: fromName, to: toName });
        }
      }
    }
    app.net = net;
    $("n-layers").textContent = String(L);
    $("n-layers-word").textContent = L === 1 ? "hidden layer" : "hidden layers";
  }

  function sendFeatures() {
    const list = [];
    for (const cb of document.querySelectorAll('input[data-testid="feature"]')) if (cb.checked) list.push(cb.dataset.feature);
    sendConfig({ features: list });
  }

  /** weights, biases and neuron pictures of one frame, in place */
  function updateNetwork(f) {
    const net = app.net;
    if (!net) return;
    const A = f.arrays;
    // weights
    for (const lk of net.links) {
      const Wa = A[`W${lk.l}`];
      if (!Wa || Wa.shape[1] !== lk.dout || Wa.shape[0] !== net.sizes[lk.l - 1]) continue;  // a frame of another structure
      const w = Wa.data[lk.i * lk.dout + lk.j];
      const sign = w >= 0 ? 1 : -1;
      if (sign !== lk.sign) { lk.path.setAttribute("stroke", sign > 0 ? "#0877bd" : "#f59322"); lk.sign = sign; }
      const width = Math.round(clamp(Math.abs(w) * 2, 0.5, 6) * 8) / 8;  // 1/8 px steps: fewer repaints
      if (width !== lk.width) { lk.path.setAttribute("stroke-width", String(width)); lk.width = width; }
      if (w !== lk.w) { lk.path.setAttribute("data-value", String(w)); lk.w = w; }
    }
    if (app.hotLink) setLinkTitle(app.hotLink);
    // biases of the hidden neurons
    let u = 0;
    for (let l = 1; l < net.sizes.length - 1; l++) {
      const b = A[`b${l}`];
      for (let j = 0; j < net.sizes[l]; j++, u++) {
        const box = net.biases[u];
        if (!box || !b || b.data.length !== net.sizes[l]) continue;
        const css = rgbCss(diverge(clamp(b.data[j], -1, 1)));
        if (box._bg !== css) { box.style.background = css; box._bg = css; }
      }
    }
    // neuron pictures
    const N = A.neurons, R = A.neuron_range;
    if (N && N.shape.length === 3 && N.shape[0] === net.neurons.length) {
      const U = N.shape[0], g = N.shape[1], g2 = N.shape[2];
      const img = neuronImage(g2, g);
      for (let k = 0; k < Math.min(U, net.neurons.length); k++) {
        const lo = R ? R.data[2 * k] : -1, hi = R ? R.data[2 * k + 1] : 1;
        paintHeat(img, N.data, k * g * g2, g * g2, lo, hi);
        const cv = net.neurons[k];
        if (cv.width !== g2 || cv.height !== g) { cv.width = g2; cv.height = g; }
        cv.getContext("2d").putImageData(img, 0, 0);
      }
    }
    // output node thumbnail
    if (net.outCanvas && app.boundaryOff) {
      const cv = net.outCanvas;
      const off = app.boundaryOff;
      if (cv.width !== off.width) { cv.width = off.width; cv.height = off.height; }
      cv.getContext("2d").drawImage(off, 0, 0);
    }
  }

  let sharedNeuronImg = null;
  function neuronImage(w, h) {
    if (!sharedNeuronImg || sharedNeuronImg.width !== w || sharedNeuronImg.height !== h) sharedNeuronImg = new ImageData(w, h);
    return sharedNeuronImg;
  }
  const heatLUT = new Uint8ClampedArray(256 * 3);
  /** uint8 picture q (range [lo, hi]) -> img, colour symmetric around 0 */
  function paintHeat(img, q, start, n, lo, hi) {
    const m = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
    const step = (hi - lo) / 255;
    for (let k = 0; k < 256; k++) {
      const h = 3 * heatIndex((lo + k * step) / m);
      heatLUT[3 * k] = HEAT[h]; heatLUT[3 * k + 1] = HEAT[h + 1]; heatLUT[3 * k + 2] = HEAT[h + 2];
    }
    const d = img.data;
    for (let i = 0, p = 0; i < n; i++, p += 4) {
      const c = 3 * q[start + i];
      d[p] = heatLUT[c]; d[p + 1] = heatLUT[c + 1]; d[p + 2] = heatLUT[c + 2]; d[p + 3] = 255;
    }
  }

  function drawFeatureHeatmaps() {
    const net = app.net, d = app.data;
    if (!net || !d) return;
    const dom = Array.isArray(d.domain) ? d.domain : [-6, 6, -6, 6];
    const ids = Array.isArray(d.features) ? d.features : [];
    const F = d.arrays.features, FR = d.arrays.feature_range;
    for (const ft of net.all) {
      const cv = net.featureCanvases[ft.id];
      if (!cv) continue;
      const k = ids.indexOf(ft.id);
      if (F && F.shape.length === 3 && k >= 0 && k < F.shape[0]) {
        const g = F.shape[1], g2 = F.shape[2];
        const img = new ImageData(g2, g);
        paintHeat(img, F.data, k * g * g2, g * g2, FR ? FR.data[2 * k] : -1, FR ? FR.data[2 * k + 1] : 1);
        cv.width = g2; cv.height = g;
        cv.getContext("2d").putImageData(img, 0, 0);
      } else {
        // a feature the server did not picture (not fed in): compute it here
        const g = isNum(d.neuron_grid) ? d.neuron_grid : 20;
        const vals = new Float32Array(g * g);
        let lo = Infinity, hi = -Infinity;
        const fn = FEATURE_FN[ft.id];
        if (!fn) continue;
        for (let r = 0; r < g; r++) for (let c = 0; c < g; c++) {
          const x = dom[0] + ((c + 0.5) * (dom[1] - dom[0])) / g;
          const y = dom[3] - ((r + 0.5) * (dom[3] - dom[2])) / g;
          const v = fn(x, y);
          vals[r * g + c] = v;
          if (v < lo) lo = v; if (v > hi) hi = v;
        }
        const q = new Uint8Array(g * g);
        const span = hi > lo ? hi - lo : 1;
        for (let i = 0; i < g * g; i++) q[i] = Math.round((255 * (vals[i] - lo)) / span);
        const img = new ImageData(g, g);
        paintHeat(img, q, 0, g * g, lo, hi);
        cv.width = g; cv.height = g;
        cv.getContext("2d").putImageData(img, 0, 0);
      }
    }
  }

  function bindNetworkHover() {
    const box = $("network");
    box.addEventListener("mousemove", (ev) => {
      const f = app.frame, net = app.net;
      const hit = ev.target.closest && ev.target.closest("[data-k]");
      if (hit && net) {
        const lk = net.links[Number(hit.dataset.k)];
        if (!lk) return;
        const Wa = f && f.arrays[`W${lk.l}`];
        const w = Wa ? Wa.data[lk.i * lk.dout + lk.j] : NaN;
        showTip(`W${lk.l}[${lk.i},${lk.j}] = ${isNum(w) ? w.toFixed(4) : "?"}\n${lk.from} \u2192 ${lk.to}`, ev.clientX, ev.clientY);
        if (app.hotLink !== lk) { clearHotLink(); lk.path.classList.add("hot"); app.hotLink = lk; setLinkTitle(lk); }
        return;
      }
      clearHotLink();
      const node = ev.target.closest && ev.target.closest(".node");
      if (!node) { hideTip(); setHover(null); return; }
      if (node.classList.contains("neuron")) {
        const l = Number(node.dataset.layer), j = Number(node.dataset.unit), idx = Number(node.dataset.index);
        const b = f && f.arrays[`b${l + 1}`];
        const R = f && f.arrays.neuron_range;
        let txt = `hidden layer ${l + 1}, neuron ${j}:  A${l + 1}[:, ${j}]\nbias b${l + 1}[${j}] = ${b ? b.data[j].toFixed(4) : "?"}`;
        if (R) txt += `\noutput over the plane: ${sig4(R.data[2 * idx])} \u2026 ${sig4(R.data[2 * idx + 1])}`;
        txt += "\n(shown large on the output plane)";
        showTip(txt, ev.clientX, ev.clientY);
        setHover({ kind: "unit", index: idx });
      } else if (node.classList.contains("feature")) {
        const ft = (net ? net.all : []).find((x) => x.id === node.dataset.feature);
        const on = !node.classList.contains("off");
        showTip(`${ft ? ft.label : node.dataset.feature}${on ? "" : "  (not fed in)"}\nclick to ${on ? "remove it from" : "feed it into"} the network`, ev.clientX, ev.clientY);
        setHover({ kind: "feature", id: node.dataset.feature });
      } else if (node.classList.contains("out-node")) {
        const j = Number(node.dataset.output);
        const L = net ? net.sizes.length - 1 : 1;
        const b = f && f.arrays[`b${L}`];
        showTip(`output ${net && net.nOut > 1 ? `${j} (${className(j)})` : ""}\nbias b${L}[${j}] = ${b ? b.data[j].toFixed(4) : "?"}`, ev.clientX, ev.clientY);
        setHover(null);
      }
    });
    box.addEventListener("mouseleave", () => { hideTip(); setHover(null); clearHotLink(); });
  }
  /** the <title> of a weight line, filled when it is hovered (the value changes every frame) */
  function setLinkTitle(lk) {
    const w = isNum(lk.w) ? lk.w : NaN;
    lk.text.nodeValue = `W${lk.l}[${lk.i},${lk.j}] = ${isNum(w) ? w.toFixed(4) : "?"}  (${lk.from} \u2192 ${lk.to})`;
  }
  function clearHotLink() {
    if (app.hotLink) { app.hotLink.path.classList.remove("hot"); app.hotLink = null; }
  }
  function setHover(h) {
    const same = (a, b) => (a === b) || (a && b && a.kind === b.kind && a.index === b.index && a.id === b.id);
    if (same(app.hover, h)) return;
    app.hover = h;
    app.needBoundary = true;
    requestDraw();
  }

  // ================================================================ 7. the output
  function mode() {
    const d = app.data, c = app.config || {};
    const problem = (d && d.problem) || c.problem;
    if (problem === "regression") return "regression";
    const k = d && isNum(d.classes) && d.classes > 0 ? d.classes : c.classes;
    return k > 2 ? "multiclass" : "binary";
  }

  function updateMetrics(f) {
    $("epoch").textContent = isNum(f.epoch) ? String(f.epoch) : $("epoch").textContent;
    $("train-loss").textContent = fmt4(f.train_loss);
    $("test-loss").textContent = fmt4(f.test_loss);
    if (mode() === "regression") {
      $("train-r2").textContent = fmt4(f.train_r2);
      $("test-r2").textContent = fmt4(f.test_r2);
      $("r2-mini").textContent = fmt4(f.train_r2);
      $("train-accuracy").textContent = "-";
      $("test-accuracy").textContent = "-";
      $("accuracy").textContent = "-";
    } else {
      $("train-accuracy").textContent = pct(f.train_accuracy);
      $("test-accuracy").textContent = pct(f.test_accuracy);
      $("accuracy").textContent = pct(f.train_accuracy);
      $("train-r2").textContent = "-";
      $("test-r2").textContent = "-";
      $("r2-mini").textContent = "-";
    }
  }

  // --- decision boundary
  const boundaryLUT = new Uint8ClampedArray(6 * 256 * 3);
  let boundaryImg = null;
  function buildBoundaryLUT(m, f) {
    const disc = app.discretize;
    if (m === "binary") {
      for (let q = 0; q < 256; q++) {
        const p = q / 255;
        const t = disc ? (q >= 128 ? 1 : -1) : 2 * p - 1;
        const h = 3 * heatIndex(t);
        boundaryLUT[3 * q] = HEAT[h]; boundaryLUT[3 * q + 1] = HEAT[h + 1]; boundaryLUT[3 * q + 2] = HEAT[h + 2];
      }
    } else if (m === "multiclass") {
      const C = Math.max(2, (app.data && app.data.classes) || 2);
      for (let k = 0; k < 6; k++) {
        for (let q = 0; q < 256; q++) {
          const p = q / 255;
          const conf = disc ? 1 : clamp((p - 1 / C) / (1 - 1 / C), 0, 1);
          const c = mix(WHITE, mix(MID, PALETTE[k], 0.15 + 0.85 * conf), HEAT_ALPHA);
          const o = 3 * (k * 256 + q);
          boundaryLUT[o] = c[0]; boundaryLUT[o + 1] = c[1]; boundaryLUT[o + 2] = c[2];
        }
      }
    } else {
      const rg = f.arrays.output_range ? f.arrays.output_range.data : [0, 1];
      const [tlo, thi] = regressionScale(rg);
      for (let q = 0; q < 256; q++) {
        const v = rg[0] + (q * (rg[1] - rg[0])) / 255;
        let t = thi > tlo ? (2 * (v - tlo)) / (thi - tlo) - 1 : 0;
        if (disc) t = Math.round(t * 4) / 4;
        const h = 3 * heatIndex(t);
        boundaryLUT[3 * q] = HEAT[h]; boundaryLUT[3 * q + 1] = HEAT[h + 1]; boundaryLUT[3 * q + 2] = HEAT[h + 2];
      }
    }
  }
  /** the colour scale of a regression: the targets' range (so points and plane compare) */
  function regressionScale(outRange) {
    const d = app.data;
    if (d && Array.isArray(d.target_range) && d.target_range.length === 2 && d.target_range[1] > d.target_range[0]) return d.target_range;
    return outRange ? [outRange[0], outRange[1]] : [-1, 1];
  }

  /** CSS sizes of observed elements, kept by ResizeObserver: no layout read while drawing */
  const cssSize = new Map();
  function sizeOf(elm) {
    let s = cssSize.get(elm);
    if (!s) { s = { w: elm.clientWidth, h: elm.clientHeight }; if (s.w > 0) cssSize.set(elm, s); }
    return s;
  }
  function fitCanvas(cv) {
    const dpr = window.devicePixelRatio || 1;
    const sz = sizeOf(cv);
    const w = Math.max(1, Math.round(sz.w * dpr)), h = Math.max(1, Math.round(sz.h * dpr));
    if (cv.width !== w || cv.height !== h) { cv.width = w; cv.height = h; }
    return dpr;
  }

  function renderBoundary() {
    const f = app.frame, d = app.data;
    const cv = $("boundary");
    const dpr = fitCanvas(cv);
    const ctx = cv.getContext("2d");
    const W = cv.width, H = cv.height;
    ctx.clearRect(0, 0, W, H);
    if (f && f.arrays.output) {
      const out = f.arrays.output;
      const G = out.shape[0], G2 = out.shape[1] || G;
      if (!app.boundaryOff || app.boundaryOff.width !== G2 || app.boundaryOff.height !== G) {
        app.boundaryOff = document.createElement("canvas");
        app.boundaryOff.width = G2; app.boundaryOff.height = G;
        boundaryImg = null;
      }
      if (!boundaryImg) boundaryImg = new ImageData(G2, G);
      const m = mode();
      buildBoundaryLUT(m, f);
      const q = out.data, cls = m === "multiclass" && f.arrays.output_class ? f.arrays.output_class.data : null;
      const px = boundaryImg.data;
      const n = G * G2;
      for (let i = 0, p = 0; i < n; i++, p += 4) {
        const o = 3 * ((cls ? (cls[i] % 6) * 256 : 0) + q[i]);
        px[p] = boundaryLUT[o]; px[p + 1] = boundaryLUT[o + 1]; px[p + 2] = boundaryLUT[o + 2]; px[p + 3] = 255;
      }
      const octx = app.boundaryOff.getContext("2d");
      octx.putImageData(boundaryImg, 0, 0);
      let src = app.boundaryOff;
      // hovering a neuron or a feature shows its picture large instead
      const hv = app.hover;
      if (hv) {
        const alt = hoverPicture(hv);
        if (alt) src = alt;
      }
      ctx.imageSmoothingEnabled = true;
      ctx.imageSmoothingQuality = "high";
      ctx.drawImage(src, 0, 0, W, H);
    } else {
      ctx.fillStyle = "#f3f4f5";
      ctx.fillRect(0, 0, W, H);
    }
    if (app.pointsUnsent && app.points) drawPlaced(ctx, W, H, dpr);
    else if (d) drawPoints(ctx, d, W, H, dpr);
  }
  function drawPlaced(ctx, W, H, dpr) {
    const d = app.data;
    const dom = d && Array.isArray(d.domain) ? d.domain : [-6, 6, -6, 6];
    const m = mode();
    const scale = regressionScale(null);
    const r = 4 * dpr;
    ctx.lineWidth = 1.5 * dpr;
    ctx.strokeStyle = "#ffffff";
    for (const [x, y, lab] of app.points) {
      ctx.beginPath();
      ctx.arc(((x - dom[0]) / (dom[1] - dom[0])) * W, ((dom[3] - y) / (dom[3] - dom[2])) * H, r, 0, 2 * Math.PI);
      ctx.fillStyle = pointColor(lab, m === "multiclass" ? "binary" : m, scale);
      ctx.fill();
      ctx.stroke();
    }
  }

  let hoverCanvas = null;
  function hoverPicture(hv) {
    const f = app.frame, d = app.data;
    let cvSrc = null;
    if (hv.kind === "unit" && f && f.arrays.neurons) {
      const N = f.arrays.neurons, R = f.arrays.neuron_range;
      const g = N.shape[1], g2 = N.shape[2];
      if (hv.index >= N.shape[0]) return null;
      const img = new ImageData(g2, g);
      paintHeat(img, N.data, hv.index * g * g2, g * g2, R ? R.data[2 * hv.index] : -1, R ? R.data[2 * hv.index + 1] : 1);
      if (!hoverCanvas) hoverCanvas = document.createElement("canvas");
      hoverCanvas.width = g2; hoverCanvas.height = g;
      hoverCanvas.getContext("2d").putImageData(img, 0, 0);
      cvSrc = hoverCanvas;
    } else if (hv.kind === "feature" && app.net && d) {
      cvSrc = app.net.featureCanvases[hv.id] || null;
    }
    return cvSrc;
  }

  function pointColor(label, m, scale) {
    if (m === "regression") {
      const t = scale[1] > scale[0] ? (2 * (label - scale[0])) / (scale[1] - scale[0]) - 1 : 0;
      return rgbCss(diverge(t));
    }
    return PALETTE_CSS[Math.round(label) % PALETTE.length] || "#888";
  }
  function drawPoints(ctx, d, W, H, dpr) {
    const dom = Array.isArray(d.domain) ? d.domain : [-6, 6, -6, 6];
    const sx = W / (dom[1] - dom[0]), sy = H / (dom[3] - dom[2]);
    const m = mode();
    const f = app.frame;
    const scale = regressionScale(f && f.arrays.output_range ? f.arrays.output_range.data : null);
    const r = 3.3 * dpr;
    const sets = [["train_x", "train_y", "#ffffff"]];
    if (app.showTest) sets.push(["test_x", "test_y", "#000000"]);
    for (const [xn, yn, stroke] of sets) {
      const X = d.arrays[xn], Y = d.arrays[yn];
      if (!X || !Y) continue;
      // group by colour: one path per colour
      const groups = new Map();
      const n = Y.data.length;
      for (let i = 0; i < n; i++) {
        const col = pointColor(Y.data[i], m, scale);
        let g = groups.get(col);
        if (!g) { g = []; groups.set(col, g); }
        g.push(i);
      }
      ctx.lineWidth = 1 * dpr;
      ctx.strokeStyle = stroke;
      for (const [col, idx] of groups) {
        ctx.beginPath();
        for (const i of idx) {
          const x = (X.data[2 * i] - dom[0]) * sx, y = (dom[3] - X.data[2 * i + 1]) * sy;
          ctx.moveTo(x + r, y);
          ctx.arc(x, y, r, 0, 2 * Math.PI);
        }
        ctx.fillStyle = col;
        ctx.fill();
        ctx.stroke();
      }
    }
  }

  function niceTicks(lo, hi, target) {
    const span = hi - lo;
    if (!(span > 0)) return [];
    const raw = span / target;
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((k) => k * p).find((s) => s >= raw) || raw;
    const out = [];
    for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
    return out;
  }
  function updateDataUI() {
    const d = app.data;
    const dom = Array.isArray(d.domain) ? d.domain : [-6, 6, -6, 6];
    const ax = $("axis-x"), ay = $("axis-y");
    ax.textContent = ""; ay.textContent = "";
    for (const v of niceTicks(dom[0], dom[1], 6)) {
      const t = el("div", { class: "tick" }, String(Number(v.toPrecision(6))));
      t.style.left = `${((v - dom[0]) / (dom[1] - dom[0])) * 100}%`;
      ax.appendChild(t);
    }
    for (const v of niceTicks(dom[2], dom[3], 6)) {
      const t = el("div", { class: "tick" }, String(Number(v.toPrecision(6))));
      t.style.top = `${((dom[3] - v) / (dom[3] - dom[2])) * 100}%`;
      ay.appendChild(t);
    }
    const nTr = isNum(d.n_train) ? d.n_train : d.arrays.train_y ? d.arrays.train_y.data.length : 0;
    const nTe = isNum(d.n_test) ? d.n_test : d.arrays.test_y ? d.arrays.test_y.data.length : 0;
    $("data-stats").textContent = `${nTr} training points, ${nTe} test points` +
      (d.problem === "regression" ? "" : `, ${d.classes || 2} classes`) +
      `. The plane spans x\u2081 \u2208 [${dom[0]}, ${dom[1]}], x\u2082 \u2208 [${dom[2]}, ${dom[3]}].`;
    updatePlaceClassOptions();
    // the target field starts inside the targets' range
    if (d.problem === "regression" && Array.isArray(d.target_range) && !app.targetTouched) {
      $("inp-place-target").value = String(Number(d.target_range[1].toPrecision(3)));
    }
    updateColorLegend();
  }
  function updateColorLegend() {
    const box = $("color-legend");
    const m = mode();
    const d = app.data;
    const sc0 = regressionScale(app.frame && app.frame.arrays.output_range ? app.frame.arrays.output_range.data : null);
    const key = JSON.stringify([m, d && d.classes, d && d.class_names, m === "regression" ? [sc0[0], sc0[1]] : 0]);
    if (key === app.legendKey) return;
    app.legendKey = key;
    box.textContent = "";
    if (m === "multiclass") {
      const k = (d && d.classes) || 3;
      box.appendChild(el("span", null, "Colour = predicted class, paler = less sure:"));
      for (let i = 0; i < k; i++) {
        const s = el("span", { class: "cls" });
        const dot = el("span", { class: "dotc" });
        dot.style.background = PALETTE_CSS[i % PALETTE.length];
        s.appendChild(dot);
        s.appendChild(document.createTextNode(String(className(i)).replace("class ", "")));
        box.appendChild(s);
      }
    } else {
      const bar = el("span", { class: "bar" });
      bar.style.background = "linear-gradient(90deg, #f59322, #e8eaeb, #0877bd)";
      if (m === "binary") {
        box.appendChild(el("span", null, `P(${className(1)}):  0`));
        box.appendChild(bar);
        box.appendChild(el("span", null, "1"));
      } else {
        const sc = regressionScale(app.frame && app.frame.arrays.output_range ? app.frame.arrays.output_range.data : null);
        box.appendChild(el("span", null, `value: ${sig4(sc[0])}`));
        box.appendChild(bar);
        box.appendChild(el("span", null, sig4(sc[1])));
      }
    }
  }

  // --- loss chart
  function renderLossChart() {
    const cv = $("loss-chart");
    const dpr = fitCanvas(cv);
    const ctx = cv.getContext("2d");
    const W = cv.width, H = cv.height;
    ctx.clearRect(0, 0, W, H);
    const h = app.history;
    const n = h.epoch.length;
    if (!n) return;
    let max = 0;
    for (let i = 0; i < n; i++) {
      if (h.train[i] > max) max = h.train[i];
      if (h.test[i] > max) max = h.test[i];
    }
    if (!(max > 0)) max = 1;
    max *= 1.05;
    const e0 = h.epoch[0], e1 = Math.max(h.epoch[n - 1], e0 + 1);
    const pad = 4 * dpr;
    const X = (e) => pad + ((e - e0) / (e1 - e0)) * (W - 2 * pad);
    const Y = (v) => H - pad - (v / max) * (H - 2 * pad);
    // grid
    ctx.strokeStyle = "#eceef0";
    ctx.lineWidth = 1;
    for (let k = 1; k < 4; k++) {
      const y = Math.round(pad + (k * (H - 2 * pad)) / 4) + 0.5;
      ctx.beginPath(); ctx.moveTo(0, y); ctx.lineTo(W, y); ctx.stroke();
    }
    const line = (arr, color, width) => {
      ctx.strokeStyle = color; ctx.lineWidth = width * dpr; ctx.lineJoin = "round";
      ctx.beginPath();
      let started = false;
      const stride = Math.max(1, Math.floor(n / Math.max(50, W / dpr)));  // about one point per CSS pixel
      for (let i = 0; i < n; i += (i + stride < n || i === n - 1 ? stride : n - 1 - i) || 1) {
        const v = arr[i];
        if (!Number.isFinite(v)) { started = false; continue; }
        const x = X(h.epoch[i]), y = Y(v);
        if (!started) { ctx.moveTo(x, y); started = true; } else ctx.lineTo(x, y);
      }
      ctx.stroke();
      if (n === 1 && Number.isFinite(arr[0])) { ctx.fillStyle = color; ctx.beginPath(); ctx.arc(X(h.epoch[0]), Y(arr[0]), 2 * dpr, 0, 7); ctx.fill(); }
    };
    line(h.train, "#8a9096", 1.6);
    line(h.test, "#1d2125", 1.6);
    ctx.fillStyle = "#7a7f85";
    ctx.font = `${10 * dpr}px system-ui, sans-serif`;
    ctx.textBaseline = "top";
    ctx.fillText(sig4(max / 1.05), pad + 2, pad);
    ctx.textAlign = "right";
    ctx.textBaseline = "bottom";
    ctx.fillText(`epoch ${h.epoch[n - 1]}`, W - pad, H - pad);
    ctx.textAlign = "left";
  }

  // --- confusion matrices
  function renderConfusion(table, M, title) {
    if (!Array.isArray(M) || !M.length) { if (table.dataset.c !== "0") { table.textContent = ""; table.dataset.c = "0"; } return; }
    const C = M.length;
    const sig = `${C}:${Array.from({ length: C }, (_, k) => shortName(k)).join("|")}`;
    if (table.dataset.c !== sig) {
      table.textContent = "";
      const thead = el("tr");
      thead.appendChild(el("th", { title: "rows: true class, columns: predicted class" }, "true \\ pred"));
      for (let j = 0; j < C; j++) {
        const th = el("th");
        const dot = el("span", { class: "cdot" });
        dot.style.background = PALETTE_CSS[j % PALETTE.length];
        th.appendChild(dot);
        th.appendChild(document.createTextNode(shortName(j)));
        thead.appendChild(th);
      }
      table.appendChild(thead);
      for (let i = 0; i < C; i++) {
        const tr = el("tr");
        const th = el("th");
        const dot = el("span", { class: "cdot" });
        dot.style.background = PALETTE_CSS[i % PALETTE.length];
        th.appendChild(dot);
        th.appendChild(document.createTextNode(shortName(i)));
        tr.appendChild(th);
        for (let j = 0; j < C; j++) tr.appendChild(el("td", { class: i === j ? "diag" : "" }));
        table.appendChild(tr);
      }
      table.dataset.c = sig;
    }
    table.title = title;
    const rows = table.querySelectorAll("tr");
    for (let i = 0; i < C; i++) {
      const cells = rows[i + 1].querySelectorAll("td");
      const row = Array.isArray(M[i]) ? M[i] : [];
      const tot = row.reduce((a, b) => a + (Number(b) || 0), 0) || 1;
      for (let j = 0; j < C; j++) {
        const v = Number(row[j]) || 0;
        const td = cells[j];
        const s = String(v);
        if (td.textContent !== s) td.textContent = s;
        const a = v / tot;
        td.style.background = a > 0 ? `rgba(${i === j ? "8,119,189" : "245,147,34"},${(0.08 + 0.45 * a).toFixed(3)})` : "";
      }
    }
  }

  // ================================================================ 8. the math panel
  function renderMath(st) {
    const ex = st.explain;
    $("explain").textContent = ex == null ? "" : typeof ex === "string" ? ex : JSON.stringify(ex, null, 2);
    const sm = st.summary;
    $("summary").textContent = sm == null ? "" : typeof sm === "string" ? sm : JSON.stringify(sm, null, 2);
  }

  function clearTrace() {
    const t = $("trace");
    t.textContent = "";
    t.appendChild(el("p", { class: "muted" }, "No traced step yet: press step to train one epoch and see every number of its last mini-batch."));
  }

  function describe(name) {
    let m;
    if (name === "X") return "the input batch: one sample per row, one feature per column (A0)";
    if (name === "y") return "the targets of this batch";
    if (name === "loss") return "the data loss of this batch";
    if (name === "out") return "the network's output for the batch";
    if (name === "dX") return "dL/dX: the gradient with respect to the inputs";
    if ((m = name.match(/^Z(\d+)$/))) { const l = +m[1]; return `Z${l} = ${l === 1 ? "X" : `A${l - 1}`} @ W${l} + b${l}: layer ${l} before its activation`; }
    if ((m = name.match(/^A(\d+)(_.*)?$/))) return `A${m[1]} = f(Z${m[1]}): layer ${m[1]} after its activation`;
    if ((m = name.match(/^W(\d+)$/))) return `layer ${m[1]}'s weights as used in this forward pass`;
    if ((m = name.match(/^b(\d+)$/))) return `layer ${m[1]}'s bias as used in this forward pass`;
    if ((m = name.match(/^dZ(\d+)$/))) return `dL/dZ${m[1]}: how the loss changes with Z${m[1]}`;
    if ((m = name.match(/^dA(\d+)$/))) return `dL/dA${m[1]}: how the loss changes with A${m[1]}`;
    if ((m = name.match(/^dW(\d+)$/))) { const l = +m[1]; return `dL/dW${l} = ${l === 1 ? "X" : `A${l - 1}`}.T @ dZ${l}: the weights' gradient`; }
    if ((m = name.match(/^db(\d+)$/))) return `dL/db${m[1]}: dZ${m[1]} summed over the batch`;
    if ((m = name.match(/^update_([Wb]\d+)$/))) return `${m[1]}(after) \u2212 ${m[1]}(before): the change this step made`;
    return "";
  }
  function phase(name) {
    if (/^update_/.test(name)) return "update";
    if (name === "y" || name === "loss") return "loss";
    if (/^d[A-Zb]/.test(name)) return "backward";
    return "forward";
  }

  function onTrace(m) {
    app.trace = m;
    pub.trace = m;
    const t = $("trace");
    t.textContent = "";
    const head = el("div", { class: "trace-head" });
    const parts = [];
    if (isNum(m.epoch)) parts.push(`epoch ${m.epoch}`);
    if (isNum(m.step)) parts.push(`optimiser step ${m.step}`);
    if (isNum(m.batch)) parts.push(`a mini-batch of ${m.batch} rows`);
    head.appendChild(el("b", null, "Traced step: "));
    head.appendChild(document.createTextNode(`${parts.join(", ")}: the last mini-batch of the epoch just taken. Tables show 4 significant digits; bigger arrays are drawn as heatmaps (orange negative, blue positive; hover for the values).`));
    t.appendChild(head);
    const names = Array.isArray(m.names) && m.names.length ? m.names : Object.keys(m.arrays);
    const groups = [
      ["forward", "Forward pass", "the batch flows through the layers"],
      ["loss", "Loss", "how wrong the outputs are"],
      ["backward", "Backward pass", "the gradients, from the output back to the inputs"],
      ["update", "Update", "what the optimiser changed"],
    ];
    for (const [key, label, cap] of groups) {
      const mine = names.filter((nm) => phase(nm) === key && m.arrays[nm]);
      if (!mine.length) continue;
      const h = el("div", { class: "trace-phase" });
      h.appendChild(el("b", null, label));
      h.appendChild(el("span", { class: "muted" }, ` — ${cap}`));
      t.appendChild(h);
      const grid = el("div", { class: "trace-grid" });
      for (const nm of mine) grid.appendChild(traceBlock(nm, m.arrays[nm]));
      t.appendChild(grid);
    }
  }

  function traceBlock(name, a) {
    const box = el("div", { class: `tblock phase-${phase(name)}`, "data-name": name });
    const title = el("div", { class: "tblock-title" });
    title.appendChild(document.createTextNode(`${name}  `));
    title.appendChild(el("span", { class: "shape" }, shapeText(a.shape)));
    box.appendChild(title);
    const desc = describe(name);
    if (desc) box.appendChild(el("div", { class: "tblock-desc" }, desc));
    const data = a.data;
    const shape = a.shape;
    const n = data.length;
    if (shape.length === 0 || n === 1 && shape.length <= 1) {
      box.appendChild(el("div", { class: "tscalar" }, sig4(data[0])));
      return box;
    }
    const rows = shape.length === 1 ? 1 : shape[0];
    const cols = shape.length === 1 ? shape[0] : n / shape[0];
    if (n <= 80) {
      const scroll = el("div", { class: "tblock-scroll" });
      const tb = el("table", { class: "mat" });
      for (let r = 0; r < rows; r++) {
        const tr = el("tr");
        for (let c = 0; c < cols; c++) {
          const v = data[r * cols + c];
          const td = el("td", { class: v < 0 ? "neg" : v > 0 ? "pos" : "", title: `${name}[${shape.length === 1 ? c : `${r},${c}`}] = ${v}` }, sig4(v));
          tr.appendChild(td);
        }
        tb.appendChild(tr);
      }
      scroll.appendChild(tb);
      box.appendChild(scroll);
    } else {
      // heatmap: one cell per entry, diverging around 0, value on hover
      let m = 0, lo = Infinity, hi = -Infinity, sumAbs = 0;
      for (let i = 0; i < n; i++) { const v = data[i]; if (v < lo) lo = v; if (v > hi) hi = v; const av = Math.abs(v); sumAbs += av; if (av > m) m = av; }
      m = m || 1;
      const cell = clamp(Math.floor(Math.min(420 / cols, 260 / rows)), 2, 16);
      const cv = el("canvas", { class: "tmap", width: String(cols), height: String(rows) });
      cv.style.width = `${cols * cell}px`;
      cv.style.height = `${rows * cell}px`;
      const img = new ImageData(cols, rows);
      for (let i = 0; i < n; i++) {
        const h = 3 * heatIndex(data[i] / m);
        img.data[4 * i] = HEAT[h]; img.data[4 * i + 1] = HEAT[h + 1]; img.data[4 * i + 2] = HEAT[h + 2]; img.data[4 * i + 3] = 255;
      }
      cv.getContext("2d").putImageData(img, 0, 0);
      cv.addEventListener("mousemove", (ev) => {
        const r = cv.getBoundingClientRect();
        const c = clamp(Math.floor(((ev.clientX - r.left) / r.width) * cols), 0, cols - 1);
        const rr = clamp(Math.floor(((ev.clientY - r.top) / r.height) * rows), 0, rows - 1);
        const v = data[rr * cols + c];
        showTip(`${name}[${shape.length === 1 ? c : `${rr},${c}`}] = ${sig4(v)}`, ev.clientX, ev.clientY);
      });
      cv.addEventListener("mouseleave", hideTip);
      const scroll = el("div", { class: "tblock-scroll" });
      scroll.appendChild(cv);
      box.appendChild(scroll);
      box.appendChild(el("div", { class: "tmeta" }, `min ${sig4(lo)}  max ${sig4(hi)}  mean|\u00b7| ${sig4(sumAbs / n)}`));
    }
    return box;
  }

  function bindGradcheck() {
    $("btn-gradcheck").addEventListener("click", () => {
      app.gradcheckWaiting = true;
      const r = $("gradcheck-report");
      r.textContent = "checking\u2026";
      send({ type: "gradcheck" });
    });
  }
  function onGradcheck(msg) {
    app.gradcheckWaiting = false;
    pub.gradcheck = msg;
    const r = $("gradcheck-report");
    r.textContent = "";
    const checks = Array.isArray(msg.checks) ? msg.checks : [];
    const tb = el("table");
    const hr = el("tr");
    for (const h of ["parameter", "shape", "checked", "max rel. error", "result", "kinks skipped"]) hr.appendChild(el("th", null, h));
    tb.appendChild(hr);
    for (const c of checks) {
      const tr = el("tr");
      tr.appendChild(el("td", { title: c.name != null ? String(c.name) : "" }, String(c.label ?? c.name ?? "")));
      tr.appendChild(el("td", { class: "num" }, Array.isArray(c.shape) ? shapeText(c.shape) : String(c.shape ?? "")));
      tr.appendChild(el("td", { class: "num" }, String(c.n_checked ?? "")));
      tr.appendChild(el("td", { class: "num" }, isNum(c.max_rel_error) ? c.max_rel_error.toExponential(2) : String(c.max_rel_error ?? "-")));
      tr.appendChild(el("td", { class: c.passed ? "gc-pass" : "gc-fail" }, c.passed ? "pass" : "FAIL"));
      tr.appendChild(el("td", { class: "num" }, String(c.n_kinks ?? 0)));
      tb.appendChild(tr);
    }
    r.appendChild(tb);
    const meta = [];
    if (msg.tol != null) meta.push(`tolerance ${msg.tol}`);
    if (msg.method) meta.push(`${msg.method} differences`);
    if (msg.batch != null) meta.push(`${msg.batch} samples`);
    r.appendChild(el("div", { class: `gc-overall ${msg.passed ? "gc-pass" : "gc-fail"}` },
      `${msg.passed ? "PASSED" : "FAILED"}${meta.length ? ` \u2014 ${meta.join(", ")}` : ""}`));
    if (msg.text) {
      const det = el("details");
      det.appendChild(el("summary", null, "ffnn's report"));
      det.appendChild(el("pre", null, String(msg.text)));
      r.appendChild(det);
    }
  }

  // ================================================================ 9. draw loop, start-up
  function requestDraw() {
    if (app.drawScheduled) return;
    app.drawScheduled = true;
    requestAnimationFrame(drawNow);
    // a hidden tab gets no animation frames: draw anyway after a while so training is not stalled forever
    clearTimeout(app.fallbackTimer);
    app.fallbackTimer = setTimeout(() => { if (app.drawScheduled) drawNow(); }, 300);
  }
  function drawNow() {
    if (!app.drawScheduled) return;
    app.drawScheduled = false;
    clearTimeout(app.fallbackTimer);
    const f = app.pending;
    const seqs = app.pendingSeqs;
    app.pending = null;
    app.pendingSeqs = [];
    const t0 = performance.now();
    try {
      if (f) {
        app.frame = f;
        pub.frame = f;
        ensureNetwork();
        updateMetrics(f);
        renderBoundary();
        updateNetwork(f);
        const m = mode();
        if (m !== "regression") {
          const hasTest = Array.isArray(f.confusion_test) && f.confusion_test.length;
          renderConfusion($("confusion"), hasTest ? f.confusion_test : [], "test points");
          $("cm-title-test").textContent = hasTest ? "test" : "test (no test points)";
          renderConfusion($("confusion-train"), f.confusion_train, "training points");
        }
        updateColorLegend();
        app.needBoundary = false;
      } else if (app.needBoundary) {
        renderBoundary();
        app.needBoundary = false;
      }
      if (app.historyDirty) { renderLossChart(); app.historyDirty = false; }
    } catch (e) {
      showError(`page: drawing failed (${e && e.message ? e.message : e})`);
    }
    if (f) { pub.stats.frames++; pub.stats.drawMs = performance.now() - t0; }
    for (const s of seqs) send({ type: "ack", seq: s });
    if (f && document.body.dataset.ready !== "1") document.body.dataset.ready = "1";
  }

  function bindResize() {
    let t = 0;
    const onResize = () => {
      clearTimeout(t);
      t = setTimeout(() => {
        if (app.net) app.net.key = "";
        ensureNetwork();
        app.needBoundary = true;
        app.historyDirty = true;
        requestDraw();
      }, 80);
    };
    if (window.ResizeObserver) {
      const ro = new ResizeObserver((entries) => {
        for (const e of entries) {
          const t = e.target;
          const w = Math.round(e.contentRect.width), h = Math.round(e.contentRect.height);
          const old = cssSize.get(t);
          cssSize.set(t, { w, h });
          if (old && old.w === w && old.h === h) continue;
          if (t === $("network")) { if (!old || old.w !== w) onResize(); } else { app.needBoundary = true; app.historyDirty = true; requestDraw(); }
        }
      });
      for (const id of ["network", "boundary", "loss-chart"]) ro.observe($(id));
    }
    window.addEventListener("resize", onResize);
  }

  /** the address was edited by hand (or a link opened in this tab): apply it */
  function onHashChange() {
    const { cfg, page } = configFromURL();
    if (page.show_test != null) { app.showTest = !!page.show_test; $("chk-show-test").checked = app.showTest; }
    if (page.discretize != null) { app.discretize = !!page.discretize; $("chk-discretize").checked = app.discretize; }
    const allowed = app.hello && app.hello.defaults ? Object.keys(app.hello.defaults) : null;
    const c = {};
    for (const [k, v] of Object.entries(cfg)) if (!allowed || allowed.includes(k)) c[k] = v;
    if (!app.helloSeen) { app.urlConfig = cfg; return; }
    app.needBoundary = true;
    requestDraw();
    if (Object.keys(c).length) sendConfig(c);
  }

  function start() {
    const { cfg, page } = configFromURL();
    app.urlConfig = cfg;
    app.showTest = !!page.show_test;
    app.discretize = !!page.discretize;
    $("chk-show-test").checked = app.showTest;
    $("chk-discretize").checked = app.discretize;
    $("inp-place-target").addEventListener("input", () => { app.targetTouched = true; });
    updatePlaceClassOptions();
    bindControls();
    bindNetworkHover();
    bindGradcheck();
    bindResize();
    clearTrace();
    window.addEventListener("hashchange", onHashChange);
    connect();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
