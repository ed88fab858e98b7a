"""Explain: the forward and backward equations of one network, with its actual shapes.

    >>> print(ffnn.mlp([784, 512, 10]).explain(loss="ce"))
    Forward  (row convention: one sample per row; N = batch size)
      Z1 = X @ W1 + b1          (N,784) @ (784,512) + (512,) -> (N,512)
      A1 = relu(Z1)             (N,512)
      Z2 = A1 @ W2 + b2         (N,512) @ (512,10) + (10,) -> (N,10)
    ...
    Backward  (dV means dL/dV and has V's shape)
      dZ2 = (P - Y) / N         (N,10)
      dW2 = A1.T @ dZ2          (512,N) @ (N,10) -> (512,10)
    ...

The activation, Dropout and loss lines are those classes' own ``formula`` (``ffnn.formula``),
stated once beside their code; a layer or loss without one gets a generic line.

The names are those of ``ffnn.tracing`` (Dense layers numbered from 1, ``Z`` before and
``A`` after each activation), so every line can be checked against a traced step.

``convention="column"`` writes the same network the way seed 001 (and many textbooks) do,
one sample per *column*:  Z_l = W_l A_{l-1} + b_l 1^T, where that W_l is ffnn's W_l^T
(D_out, D_in) and that X is ffnn's X^T.  The numbers are identical; only the layout differs.

``format``: "text" (plain ASCII), "markdown" (headings and ``$$...$$`` blocks) or "latex"
(one ``$$\\begin{aligned}...\\end{aligned}$$`` block); the last two render in a Jupyter cell
(the returned string displays itself as Markdown / LaTeX there).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .formula import Formula, LossFormula
from .layers import Dense, Layer
from .losses import Loss, get_loss
from .naming import layer_names

if TYPE_CHECKING:
    from .network import Sequential

__all__ = ["Equation", "Explanation", "equations", "explain"]

Dim = int | str
Shape = tuple[Dim, ...]


@dataclass(frozen=True)
class Equation:
    """One line: ``lhs = text`` with the shapes of its operands and of the result.

    ``operands``/``ops`` spell the shape computation, e.g. ((N,784), (784,512), (512,)) with
    ("@", "+") for Z1 = X @ W1 + b1; empty for elementwise lines (only ``shape`` is shown).
    """

    section: str  # "forward", "loss" or "backward"
    lhs: str  # the quantity's name, as in ffnn.tracing ("Z1", "dW1", "loss", "P")
    text: str  # right-hand side, plain text
    tex: str  # right-hand side, LaTeX
    shape: Shape  # shape of the result
    operands: tuple[Shape, ...] = ()
    ops: tuple[str, ...] = ()
    note: str = ""


def _tex_name(name: str) -> str:
    """"Z1" -> "Z_{1}", "dW2" -> "dW_{2}", "A1_dropout" -> "A_{1}^{\\mathrm{dropout}}"."""
    base, _, suffix = name.partition("_")
    head = base.rstrip("0123456789")
    digits = base[len(head):]
    out = head + (f"_{{{digits}}}" if digits else "")
    return out + (rf"^{{\mathrm{{{suffix.replace('_', ' ')}}}}}" if suffix else "")


def _T(t: str) -> str:
    """t transposed, braced when t already carries a superscript (A_{1}^{dropout})."""
    return (f"{{{t}}}" if "^" in t else t) + r"^\top"


# --------------------------------------------------------------------------- equations
def equations(
    net: Sequential,
    loss: str | Loss | None = None,
    convention: str = "row",
    batch: Dim = "N",
) -> list[Equation]:
    """The forward, loss and backward equations of ``net`` as ``Equation`` records."""
    if convention not in ("row", "column"):
        raise ValueError(f"convention must be 'row' or 'column', got {convention!r}")
    col = convention == "column"
    N = batch

    def act_shape(d: Dim) -> Shape:  # an activation matrix with d features
        return (d, N) if col else (N, d)

    names = layer_names(net)
    widths: list[Dim] = []
    width: Dim = net.n_features if net.n_features is not None else "D"
    for layer in net.layers:
        width = layer.output_features(width) if isinstance(width, int) else width
        widths.append(width)
    in_widths = [net.n_features or "D"] + widths[:-1]
    eqs: list[Equation] = []

    # ---- forward
    for i, layer in enumerate(net.layers):
        x = "X" if i == 0 else names[i - 1][0]
        a, l = names[i]
        tx, ta = _tex_name(x), _tex_name(a)
        if isinstance(layer, Dense):
            W, b = f"W{l}", f"b{l}"
            tW, tb = _tex_name(W), _tex_name(b)
            din, dout = layer.in_features, layer.out_features
            if col:
                eqs.append(Equation("forward", a, f"{W} @ {x} + {b} 1^T",
                                    rf"{tW}\,{tx} + {tb}\,\mathbf{{1}}^\top", (dout, N),
                                    ((dout, din), (din, N), (dout, 1), (1, N)),
                                    ("@", "+", "@")))
            else:
                eqs.append(Equation("forward", a, f"{x} @ {W} + {b}", rf"{tx}\,{tW} + {tb}",
                                    (N, dout), ((N, din), (din, dout), (dout,)), ("@", "+")))
        else:
            text, tex, note = _forward_form(layer, x, a, tx, ta, col)
            eqs.append(Equation("forward", a, text, tex, act_shape(widths[i]), note=note))

    # ---- loss
    out = names[-1][0] if names else "X"
    tout = _tex_name(out)
    K = widths[-1] if widths else (net.n_features or "K")
    n_el = N if K == 1 else (f"({N}*{K})" if isinstance(N, str) else N * K)
    dout_eq: Equation | None = None
    if loss is not None:
        loss = get_loss(loss)
        Y = act_shape(K)
        form = loss.formula
        if isinstance(form, LossFormula):
            unit = "column" if col else "row"
            fill = {"out": out, "N": N, "NK": n_el, "unit": unit}
            tfill = {"out": tout, "N": _tex_count(N), "NK": _tex_count(n_el), "unit": unit}
            if form.prob:
                eqs.append(Equation("loss", "P", form.prob.format(**fill),
                                    form.prob_tex.format(**tfill), Y, note=form.prob_note))
            eqs.append(Equation("loss", "loss", form.loss.format(**fill),
                                form.loss_tex.format(**tfill), ()))
            dout_eq = Equation("backward", "d" + out, form.dout.format(**fill),
                               form.dout_tex.format(**tfill), Y, note=form.dout_note)
        else:
            eqs.append(Equation("loss", "loss", f"{type(loss).__name__}({out}, Y)",
                                rf"\mathrm{{{type(loss).__name__}}}({tout}, Y)", ()))
    if dout_eq is None and names:
        dout_eq = Equation("backward", "d" + out, f"dL/d{out}  (given by the loss)",
                           rf"\partial L / \partial {tout}", act_shape(K))
    if dout_eq is not None:
        eqs.append(dout_eq)

    # ---- backward
    for i in range(len(net.layers) - 1, -1, -1):
        layer = net.layers[i]
        x = "X" if i == 0 else names[i - 1][0]
        a, l = names[i]
        tx, ta = _tex_name(x), _tex_name(a)
        dx, da = "d" + x, "d" + a
        tda = "d" + ta
        if isinstance(layer, Dense):
            W, b = f"W{l}", f"b{l}"
            tW = _tex_name(W)
            din, dout = layer.in_features, layer.out_features
            if col:
                eqs.append(Equation("backward", "d" + W, f"{da} @ {x}.T",
                                    rf"{tda}\,{_T(tx)}", (dout, din),
                                    ((dout, N), (N, din)), ("@",)))
                eqs.append(Equation("backward", "d" + b, f"{da} @ 1",
                                    rf"{tda}\,\mathbf{{1}}", (dout, 1),
                                    ((dout, N), (N, 1)), ("@",), note="sum over the columns"))
                if i > 0:
                    eqs.append(Equation("backward", dx, f"{W}.T @ {da}", rf"{tW}^\top {tda}",
                                        (din, N), ((din, dout), (dout, N)), ("@",)))
            else:
                eqs.append(Equation("backward", "d" + W, f"{x}.T @ {da}",
                                    rf"{_T(tx)} {tda}", (din, dout),
                                    ((din, N), (N, dout)), ("@",)))
                eqs.append(Equation("backward", "d" + b, f"sum_rows({da})",
                                    rf"\textstyle\sum_{{\text{{rows}}}} {tda}", (dout,),
                                    ((N, dout),), ("sum",)))
                if i > 0:
                    eqs.append(Equation("backward", dx, f"{da} @ {W}.T", rf"{tda}\,{tW}^\top",
                                        (N, din), ((N, dout), (dout, din)), ("@",)))
        elif i > 0:
            text, tex = _backward_form(layer, x, a, tx, ta, col)
            eqs.append(Equation("backward", dx, text, tex, act_shape(in_widths[i])))
    return eqs


def _tex_count(n: Dim) -> str:
    return str(n).strip("()").replace("*", r" \cdot ")


def _formula_fill(layer: Layer, col: bool) -> dict[str, object]:
    """Values for a layer formula's placeholders: its parameters (``formula_params()``, else
    ``config()``) and the convention's ``{unit}`` ("row"/"column") and ``{axis}`` (1/0)."""
    params = getattr(layer, "formula_params", layer.config)()
    fill: dict[str, object] = {k: f"{v:g}" if isinstance(v, float) else v
                               for k, v in params.items()}
    return {**fill, "unit": "column" if col else "row", "axis": 0 if col else 1}


def _forward_form(layer: Layer, x: str, a: str, tx: str, ta: str,
                  col: bool) -> tuple[str, str, str]:
    form = getattr(layer, "formula", None)
    if isinstance(form, Formula):
        p = _formula_fill(layer, col)
        return (form.forward.format(x=x, a=a, **p), form.forward_tex.format(x=tx, a=ta, **p),
                form.note)
    return f"{type(layer).__name__}({x})", rf"\mathrm{{{type(layer).__name__}}}({tx})", ""


def _backward_form(layer: Layer, x: str, a: str, tx: str, ta: str,
                   col: bool) -> tuple[str, str]:
    form = getattr(layer, "formula", None)
    if isinstance(form, Formula):
        p = _formula_fill(layer, col)
        return (form.backward.format(x=x, a=a, da="d" + a, **p),
                form.backward_tex.format(x=tx, a=ta, da="d" + ta, **p))
    return (f"{type(layer).__name__}.backward(d{a})",
            rf"\mathrm{{{type(layer).__name__}}}'(d{ta})")


# --------------------------------------------------------------------------- formatting
def _shape_text(s: Shape) -> str:
    return "(" + ",".join(str(d) for d in s) + ("," if len(s) == 1 else "") + ")"


def _shape_tex(s: Shape) -> str:
    return "(" + r" \times ".join(str(d).replace("*", r"\cdot ") for d in s) + ")"


def _shapes_text(e: Equation) -> str:
    if e.ops == ("sum",):
        return f"{_shape_text(e.operands[0])} -> {_shape_text(e.shape)}"
    if not e.operands:
        return "scalar" if e.shape == () else _shape_text(e.shape)
    parts = [_shape_text(e.operands[0])]
    for op, s in zip(e.ops, e.operands[1:], strict=True):
        parts += [op, _shape_text(s)]
    return " ".join(parts) + " -> " + _shape_text(e.shape)


def _shapes_tex(e: Equation) -> str:
    if e.ops == ("sum",):
        return rf"{_shape_tex(e.operands[0])} \to {_shape_tex(e.shape)}"
    if not e.operands:
        return r"\text{scalar}" if e.shape == () else _shape_tex(e.shape)
    parts = [_shape_tex(e.operands[0])]
    for op, s in zip(e.ops, e.operands[1:], strict=True):
        parts += [r"\," if op == "@" else op, _shape_tex(s)]
    return " ".join(parts) + r" \to " + _shape_tex(e.shape)


_SECTION_TITLES = {
    "row": {
        "forward": "Forward  (row convention: one sample per row; N = batch size)",
        "loss": "Loss  (mean over the batch)",
        "backward": "Backward  (dT = dL/dT, with the shape of T)",
    },
    "column": {
        "forward": "Forward  (column convention of seed 001: one sample per column; "
                   "W here = ffnn's W.T, X here = ffnn's X.T)",
        "loss": "Loss  (mean over the batch)",
        "backward": "Backward  (dT = dL/dT, with the shape of T)",
    },
}


class Explanation(str):
    """A string that displays itself as Markdown / LaTeX / plain text in Jupyter."""

    format: str = "text"

    def __new__(cls, text: str, format: str = "text") -> Explanation:
        obj = super().__new__(cls, text)
        obj.format = format
        return obj

    def _repr_markdown_(self) -> str | None:
        return str(self) if self.format == "markdown" else None

    def _repr_latex_(self) -> str | None:
        return str(self) if self.format == "latex" else None

    def _repr_pretty_(self, p, cycle: bool) -> None:
        p.text(str(self))


def explain(
    net: Sequential,
    loss: str | Loss | None = None,
    format: str = "text",
    convention: str = "row",
    batch: Dim = "N",
) -> Explanation:
    """The forward (and, with ``loss``, loss) and backward equations of ``net``.

    ``batch`` is the symbol (or number) used for the batch size.  Shapes are the real ones:
    ``Z1 = X @ W1 + b1   (N,784) @ (784,512) + (512,) -> (N,512)``.  The backward lines are
    the ones ``Sequential.backward`` runs; dX is not listed because training never needs it.
    """
    if format not in ("text", "markdown", "latex"):
        raise ValueError(f"format must be 'text', 'markdown' or 'latex', got {format!r}")
    eqs = equations(net, loss, convention, batch)
    titles = _SECTION_TITLES[convention]
    sections = [s for s in ("forward", "loss", "backward") if any(e.section == s for e in eqs)]
    if format == "text":
        w = max((len(e.lhs) + len(e.text) for e in eqs), default=0) + 5
        out = []
        for s in sections:
            out.append(titles[s])
            for e in (e for e in eqs if e.section == s):
                line = f"  {e.lhs} = {e.text}".ljust(w + 2) + "  " + _shapes_text(e)
                out.append(line + (f"   # {e.note}" if e.note else ""))
        return Explanation("\n".join(out), "text")

    def rows(s: str) -> str:
        return " \\\\\n".join(
            rf"{_tex_lhs(e.lhs)} &= {e.tex} && {_shapes_tex(e)}"
            + (rf" \quad \text{{{_tex_text(e.note)}}}" if e.note else "")
            for e in eqs if e.section == s)

    if format == "markdown":
        parts = []
        for s in sections:
            parts.append(f"**{_md_text(titles[s])}**")
            parts.append("$$\n\\begin{aligned}\n" + rows(s) + "\n\\end{aligned}\n$$")
        return Explanation("\n\n".join(parts), "markdown")
    body = " \\\\[4pt]\n".join(
        rf"&\text{{{_tex_text(titles[s])}}} \\" + "\n" + rows(s) for s in sections)
    return Explanation("$$\n\\begin{aligned}\n" + body + "\n\\end{aligned}\n$$", "latex")


def _tex_lhs(name: str) -> str:
    if name == "loss":
        return "L"
    if name.startswith("d") and name != "d":
        return "d" + _tex_name(name[1:])
    return _tex_name(name)


def _tex_text(s: str) -> str:
    """Plain text safe inside \\text{...}."""
    return (s.replace("\\", "").replace("_", r"\_").replace("#", r"\#").replace("&", r"\&")
            .replace("%", r"\%"))


def _md_text(s: str) -> str:
    return s.replace("_", r"\_").replace("*", r"\*")
