"""The generated gradients against central finite differences of the generated loss.

`graphc gradcheck` compiles the model in float64 and checks the module it would
write: it draws inputs (floats from a standard normal, labels among their
classes), takes the initial params moved by a small random step (so that no
value sits on a kink, such as relu's at 0, where a difference quotient and a
derivative rightly disagree), and compares loss_and_grad's gradient with
(loss(p + h) - loss(p - h)) / 2h at up to `most` entries of each array named
by `wrt`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from graphc.ir import Graph
from graphc.ops.base import show

STEP = 1e-6  # relative to the entry's size (at least 1): truncation ~ h^2, round-off ~ 1e-16/h
RTOL = 1e-5  # of the larger of the two slopes
ATOL = 1e-7  # of the loss's size (at least 1): what round-off leaves of a difference of losses


@dataclass
class Row:
    name: str
    shape: str
    checked: int
    steepest: float  # the largest |slope| among the entries checked
    worst: float  # the largest |analytic - numeric|
    ok: bool


def sizes(g: Graph, given: dict[str, int]) -> dict[str, int]:
    """A size for every dim: the given ones, else 3, 4, 5, ... (distinct, so that a
    transposed index shows as a wrong shape rather than passing by chance)."""
    out, free = {}, 3
    for d in g.dims:
        if d in given:
            out[d] = given[d]
        else:
            out[d], free = free, free + 1
    return out


def _size(d, dims: dict[str, int]) -> int:
    return d if isinstance(d, int) else math.prod(dims[p] for p in d.split("*"))


def inputs(g: Graph, dims: dict[str, int], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Floats from a standard normal; labels in [0, K) for the fewest classes they are used with."""
    classes: dict[int, int] = {}
    for n in g.order():
        labels, k = g.labels(n)
        if labels is not None:
            classes[labels] = min(classes.get(labels, _size(k, dims)), _size(k, dims))
    out = {}
    for name, n in g.inputs.items():
        shape = tuple(_size(d, dims) for d in g.shape(n))
        if g.node(n)["dtype"] == "int":
            out[name] = rng.integers(0, classes.get(n, 2), size=shape)
        else:
            out[name] = rng.normal(size=shape)
    return out


def check(module, g: Graph, dims: dict[str, int], seed: int = 0, most: int = 20) -> list[Row]:
    """Compare the module's gradients with central differences of its loss, per `wrt` name."""
    rng = np.random.default_rng(seed)
    given = inputs(g, dims, rng)
    params = {k: v + rng.normal(scale=0.1, size=np.shape(v)) for k, v in module.init_params(seed).items()}
    value, grads = module.loss_and_grad(params, **given)
    tolerance = ATOL * max(1.0, abs(value))
    rows = []
    for name in module.WRT:
        at = np.array(params[name] if name in params else given[name], dtype=np.float64)
        picks = rng.permutation(at.size)[:most] if at.size > most else np.arange(at.size)
        steepest = worst = 0.0
        ok = True
        for i in sorted(picks):
            h = STEP * max(1.0, abs(at.flat[i]))
            losses = []
            for sign in (1, -1):
                moved = at.copy()
                moved.flat[i] += sign * h
                if name in params:  # `wrt` may name an input too
                    losses.append(module.loss({**params, name: moved}, **given))
                else:
                    losses.append(module.loss(params, **{**given, name: moved}))
            numeric = (losses[0] - losses[1]) / (2 * h)
            analytic = float(np.asarray(grads[name]).flat[i])
            err = abs(analytic - numeric)
            scale = max(abs(analytic), abs(numeric))
            steepest, worst = max(steepest, scale), max(worst, err)
            ok = ok and err <= RTOL * scale + tolerance
        rows.append(Row(name, show(at.shape), len(picks), steepest, worst, ok))
    return rows


def table(rows: list[Row]) -> list[str]:
    width = max([len(r.name) for r in rows] + [4])
    shape_w = max([len(r.shape) for r in rows] + [5])
    lines = [f"  {'name':<{width}}  {'shape':<{shape_w}}  entries  largest slope  largest error"]
    for r in rows:
        verdict = "ok" if r.ok else "DISAGREES"
        lines.append(
            f"  {r.name:<{width}}  {r.shape:<{shape_w}}  {r.checked:>7}  {r.steepest:>13.2e}  {r.worst:>13.2e}  {verdict}"
        )
    return lines
