"""The playground: train a network live in the browser, on ffnn's own engine.

    ffnn playground                  # serves http://127.0.0.1:8000/ and opens the browser
    python -m ffnn.playground --port 0 --no-browser

``data`` (the plane's data sets, input features, CSV parsing) and ``session`` (one tab's
training and pictures) need only NumPy; ``server`` needs the optional extra ``playground``
(Starlette, uvicorn, websockets).  ``protocol`` documents every message.
"""

from __future__ import annotations

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """``python -m ffnn.playground``: the same as ``ffnn playground``."""
    from ..cli import main as cli_main

    return cli_main(["playground", *(argv if argv is not None else __import__("sys").argv[1:])])
