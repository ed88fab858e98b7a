"""The result of a check: passed or not, the one-sentence diagnosis, the readable report."""

from __future__ import annotations

import html
from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    """What ``ffnn.exercises.check`` returns.

    ``passed``: every case right.  ``diagnosis``: the sentence naming the typical mistake (or
    the problem with the returned values), None when there is nothing to name.  ``report``:
    the whole text, PASSED/FAILED, the cases tried, the diagnosis or the first wrong entry.
    ``str(result)`` is the report; notebooks show it as a coloured box.
    """

    name: str
    passed: bool
    diagnosis: str | None
    report: str

    def __str__(self) -> str:
        return self.report

    def __repr__(self) -> str:
        return (f"Result(name={self.name!r}, passed={self.passed}, "
                f"diagnosis={self.diagnosis!r})")

    def to_dict(self) -> dict:
        """JSON-friendly: name, passed, diagnosis, report (for the grader)."""
        return {"name": self.name, "passed": self.passed, "diagnosis": self.diagnosis,
                "report": self.report}

    def _repr_pretty_(self, p, cycle) -> None:  # IPython's plain-text display
        p.text(self.report)

    def _repr_html_(self) -> str:  # Jupyter's rich display
        color = "#2e7d32" if self.passed else "#c62828"
        title, _, rest = self.report.partition("\n")
        return (f'<div style="border-left: 4px solid {color}; padding: 0.3em 0.8em; '
                f'margin: 0.3em 0">'
                f'<div style="color: {color}; font-weight: bold">{html.escape(title)}</div>'
                f'<pre style="margin: 0.3em 0 0 0; white-space: pre-wrap">'
                f'{html.escape(rest)}</pre></div>')
