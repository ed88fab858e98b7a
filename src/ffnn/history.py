"""What ``fit`` records: one dict of metrics per epoch, and facts about the run."""

from __future__ import annotations

import csv
import math


class History:
    """Per-epoch records: ``history["loss"]``, ``history["val_accuracy"]``, ...

    ``rows()`` gives one dict per epoch, ``columns()`` a dict of lists, ``to_csv(path)``
    writes a CSV with one row per epoch.
    """

    def __init__(self, records: list[dict] | None = None, seed: int | None = None) -> None:
        self.records: list[dict] = list(records or [])
        self.seed = seed
        self.interrupted = False
        #: about the run rather than an epoch, e.g. ``meta["step"]``: which training step ran
        #: and why no faster one (``ffnn.steps.StepChoice.to_dict()``)
        self.meta: dict = {}

    def append(self, logs: dict) -> None:
        """Record one epoch.  The dict itself is kept, so callbacks that add entries to an
        epoch's ``logs`` in ``on_epoch_end`` (e.g. diagnostics) add them to the history."""
        self.records.append(logs)

    def keys(self) -> list[str]:
        keys: list[str] = []
        for r in self.records:
            keys += [k for k in r if k not in keys]
        return keys

    def __getitem__(self, key: str) -> list:
        if key not in self.keys():
            raise KeyError(f"{key!r} is not in the history; available: {', '.join(self.keys())}")
        return [r.get(key, math.nan) for r in self.records]

    def __contains__(self, key: str) -> bool:
        return key in self.keys()

    def __len__(self) -> int:
        return len(self.records)

    def rows(self) -> list[dict]:
        return [dict(r) for r in self.records]

    def columns(self) -> dict[str, list]:
        return {k: self[k] for k in self.keys()}

    def last(self) -> dict:
        return dict(self.records[-1]) if self.records else {}

    def to_csv(self, path) -> None:
        keys = self.keys()
        with open(path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=keys)
            writer.writeheader()
            for r in self.records:
                writer.writerow({k: r.get(k, "") for k in keys})

    @classmethod
    def from_csv(cls, path) -> History:
        with open(path, newline="") as fh:
            records = [{k: _parse_number(v) for k, v in row.items()} for row in csv.DictReader(fh)]
        return cls(records)

    def __repr__(self) -> str:
        return f"History({len(self)} epochs, keys={self.keys()})"


def _parse_number(v: str):
    try:
        f = float(v)
    except ValueError:
        return v
    return int(f) if f.is_integer() and "." not in v and "e" not in v.lower() else f


__all__ = ["History"]
