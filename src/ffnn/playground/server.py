"""The playground's web server: an ASGI app (Starlette) served by uvicorn.

``GET /`` the page, ``/static/...`` its files (shipped in the package: no CDN), ``/ws`` one
WebSocket per tab (= one ``Session``, see ``protocol`` for the messages), and
``/api/session/{id}/model.npz | script.py | data.csv`` the exports of a live session.

Each session's work runs in a worker thread, one piece at a time, so the event loop keeps
serving every other tab; a tab that closes ends its session and its training at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from importlib import resources
from pathlib import Path

from . import protocol as P
from .data import CSVError
from .session import Session
from .settings import LIMITS, SettingsError

log = logging.getLogger("ffnn.playground")

#: sessions served at once; the next tab gets an error message and is closed
MAX_SESSIONS = 64
#: largest WebSocket message accepted by the server (an upload plus its JSON wrapping)
MAX_MESSAGE_BYTES = 4 * LIMITS["max_upload_bytes"]
STATIC = Path(str(resources.files("ffnn.playground") / "static"))


def create_app(max_sessions: int = MAX_SESSIONS):
    """The ASGI app.  ``app.state.sessions`` maps live session ids to their ``Session``."""
    from starlette.applications import Starlette
    from starlette.responses import FileResponse, JSONResponse, Response
    from starlette.routing import Mount, Route, WebSocketRoute
    from starlette.staticfiles import StaticFiles

    sessions: dict[str, Session] = {}

    async def index(request):
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    async def health(request):
        return JSONResponse({"ok": True, "sessions": len(sessions), "version": P.VERSION})

    #: export file -> (what the session makes, media type, file name)
    exports = {
        "model.npz": (Session.model_bytes, "application/octet-stream",
                      lambda s: f"playground-{s.settings.dataset}-epoch{s.epoch}.npz"),
        "script.py": (Session.script, "text/x-python; charset=utf-8",
                      lambda s: f"playground-{s.settings.dataset}.py"),
        "data.csv": (Session.data_csv, "text/csv; charset=utf-8",
                     lambda s: f"playground-{s.settings.dataset}.csv"),
    }

    async def export(request):
        sid, what = request.path_params["sid"], request.path_params["what"]
        if what not in exports:
            return JSONResponse({"error": f"no export {what!r}; there are "
                                          f"{', '.join(exports)}"}, status_code=404)
        s = sessions.get(sid)
        if s is None:
            return JSONResponse({"error": f"no live session {sid!r}: the tab was closed or the "
                                          "server restarted; reload the page"}, status_code=404)
        make, media_type, name = exports[what]
        body = await asyncio.to_thread(make, s)
        return Response(body, media_type=media_type,
                        headers={"Content-Disposition": f'attachment; filename="{name(s)}"'})

    async def websocket(ws):
        await ws.accept()
        if len(sessions) >= max_sessions:
            await ws.send_text(P.text("error", source="session", message=(
                f"the server already runs {len(sessions)} sessions (its limit); close a tab "
                "and reload")))
            await ws.close(code=1013)
            return
        sid = secrets.token_urlsafe(12)
        session = await asyncio.to_thread(Session)
        sessions[sid] = session
        try:
            await Connection(ws, session, sid).run()
        finally:
            sessions.pop(sid, None)
            session.playing = False

    routes = [
        Route("/", index),
        Route("/api/health", health),
        Route("/api/session/{sid}/{what}", export),
        WebSocketRoute("/ws", websocket),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes)
    app.state.sessions = sessions
    return app


class Connection:
    """One tab: reads its messages, answers them, and streams frames while playing.

    Frames are paced by the page: at most ``protocol.WINDOW`` frames are unacknowledged, so a
    slow page (or a slow network) slows training down instead of piling frames up.
    """

    def __init__(self, ws, session: Session, sid: str) -> None:
        self.ws = ws
        self.session = session
        self.sid = sid
        self.acked = 0
        self.data_sent = False
        self.inbox: asyncio.Queue = asyncio.Queue()

    async def run(self) -> None:
        from starlette.websockets import WebSocketDisconnect

        reader = asyncio.create_task(self._read())
        try:
            await self.ws.send_text(P.text("hello", **self.session.hello(self.sid)))
            while True:
                s = self.session
                if s.playing and s.seq - self.acked < P.WINDOW:
                    while not self.inbox.empty():  # answer the page first
                        if not await self._handle(self.inbox.get_nowait()):
                            return
                    if s.playing and s.seq - self.acked < P.WINDOW:
                        await self._train_and_send()
                    continue
                message = await self.inbox.get()
                if not await self._handle(message):
                    return
        except (WebSocketDisconnect, RuntimeError, OSError):
            return  # the tab went away mid-send
        finally:
            self.session.playing = False
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader

    async def _read(self) -> None:
        """Put every message in the inbox; None when the tab disconnects."""
        try:
            while True:
                event = await self.ws.receive()
                if event["type"] == "websocket.disconnect":
                    break
                if event.get("text") is not None:
                    await self.inbox.put(event["text"])
                elif event.get("bytes") is not None:
                    await self.inbox.put(b"")  # the page sends text only
        except Exception:  # noqa: BLE001 - any failure of the socket ends the session
            pass
        finally:
            await self.inbox.put(None)

    async def _send_error(self, source: str, message: str, **where) -> None:
        await self.ws.send_text(P.text("error", source=source, message=message, **where))

    async def _train_and_send(self) -> None:
        from ..training import TrainingDiverged

        try:
            frame = await asyncio.to_thread(self.session.advance)
        except TrainingDiverged as exc:
            await self._send_error("training", str(exc))
            await self.ws.send_bytes(await asyncio.to_thread(self.session.frame))
            await self.ws.send_text(P.text("status", playing=False, epoch=self.session.epoch))
            return
        await self.ws.send_bytes(frame)

    async def _send_state(self, data: bool) -> None:
        """``state``, then ``data`` (when the points changed or the page has none yet), then a
        ``frame``."""
        s = self.session
        await self.ws.send_text(P.text("state", **await asyncio.to_thread(s.state)))
        if data or not self.data_sent:
            await self.ws.send_bytes(await asyncio.to_thread(s.data_message))
            self.data_sent = True
        await self.ws.send_bytes(await asyncio.to_thread(s.frame))

    async def _handle(self, raw) -> bool:
        """Answer one message; False when the tab has gone."""
        if raw is None:
            return False
        if raw == b"":
            await self._send_error("message", "binary messages are not part of the protocol; "
                                              "send JSON text")
            return True
        if len(raw) > MAX_MESSAGE_BYTES:
            await self._send_error("message", f"message of {len(raw):,} bytes; the limit is "
                                              f"{MAX_MESSAGE_BYTES:,}")
            return True
        try:
            msg = P.parse_client_message(raw)
        except P.ProtocolError as exc:
            await self._send_error("message", str(exc))
            return True
        s = self.session
        kind = msg["type"]
        try:
            if kind == "ack":
                self.acked = max(self.acked, min(msg["seq"], s.seq))
            elif kind == "ping":
                await self.ws.send_text(P.text("pong"))
            elif kind == "play":
                s.playing = True
                await self.ws.send_text(P.text("status", playing=True, epoch=s.epoch))
            elif kind == "pause":
                s.playing = False
                await self.ws.send_text(P.text("status", playing=False, epoch=s.epoch))
            elif kind == "step":
                s.playing = False
                arrays = await asyncio.to_thread(s.step_traced)
                await self.ws.send_bytes(await asyncio.to_thread(s.frame))
                await self.ws.send_bytes(await asyncio.to_thread(s.trace_message, arrays))
                await self.ws.send_text(P.text("status", playing=False, epoch=s.epoch))
            elif kind == "reset":
                await asyncio.to_thread(s.reset)
                await self._send_state(data=False)
            elif kind == "config":
                changed = await asyncio.to_thread(s.configure, msg["config"])
                await self._send_state(data=changed["data"])
            elif kind == "upload":
                try:
                    await asyncio.to_thread(s.upload, msg["name"], msg["text"])
                except CSVError as exc:
                    await self._send_error("upload", str(exc), line=exc.line, column=exc.column)
                    return True
                await self._send_state(data=True)
            elif kind == "points":
                await asyncio.to_thread(s.place_points, msg["points"])
                await self._send_state(data=True)
            elif kind == "gradcheck":
                report = await asyncio.to_thread(s.gradcheck)
                await self.ws.send_text(P.text("gradcheck", **report))
        except SettingsError as exc:
            await self._send_error("config" if kind == "config" else kind, str(exc))
        except (ValueError, TypeError, FloatingPointError) as exc:
            log.warning("session %s: %s message failed: %s", self.sid, kind, exc)
            await self._send_error(kind, f"{type(exc).__name__}: {exc}")
        return True


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def exposure_warning(host: str) -> str | None:
    """The warning printed when the server is told to bind beyond this machine."""
    if host in LOOPBACK:
        return None
    return (f"WARNING: binding {host}, not 127.0.0.1: anyone who can reach this machine on the "
            "network can open the playground and run training on it (there is no login).")


def _bind(host: str, port: int):
    import socket

    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP,
    # and without it Nagle's algorithm holds a step's last message back ~40 ms
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM,
                         socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def _uvicorn_server(app, log_level: str):
    import uvicorn

    config = uvicorn.Config(app, log_level=log_level, ws_max_size=MAX_MESSAGE_BYTES,
                            ws_ping_interval=20, ws_ping_timeout=60, lifespan="off")
    return uvicorn.Server(config)


def serve(host: str = "127.0.0.1", port: int = 8000, open_browser: bool = True,
          log_level: str = "warning") -> None:
    """Run the playground until Ctrl-C.  Port 0 picks a free port."""
    import webbrowser

    warning = exposure_warning(host)
    if warning:
        print(f"ffnn playground: {warning}", flush=True)
    sock = _bind(host, port)
    port = sock.getsockname()[1]
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"
    server = _uvicorn_server(create_app(), log_level)
    print(f"ffnn playground: {url}  (Ctrl-C stops it)", flush=True)
    if open_browser:
        with contextlib.suppress(Exception):
            webbrowser.open(url)
    with _one_blas_thread():
        server.run(sockets=[sock])


def _one_blas_thread():
    """The playground's products are tiny: BLAS threads only compete with the page (and the
    other tabs) for the cores, so the server process keeps BLAS on one thread."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


class BackgroundServer:
    """The playground on 127.0.0.1 and a free port, in a daemon thread (tests, benchmarks,
    notebooks)::

        with BackgroundServer() as srv:
            print(srv.url)                 # http://127.0.0.1:PORT/
            srv.app.state.sessions         # the live sessions
    """

    def __init__(self, max_sessions: int = MAX_SESSIONS, log_level: str = "warning") -> None:
        import threading

        self.app = create_app(max_sessions)
        self._sock = _bind("127.0.0.1", 0)
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws"
        self._server = _uvicorn_server(self.app, log_level)
        self._thread = threading.Thread(target=self._server.run,
                                        kwargs={"sockets": [self._sock]}, daemon=True,
                                        name="ffnn-playground")

    def start(self, timeout: float = 20.0) -> BackgroundServer:
        import time

        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the playground server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._sock.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
