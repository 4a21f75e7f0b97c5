"""The generated gradients against central finite differences of the generated loss.

`graphc gradcheck` compiles the model in float64 and checks the module it would
write: it draws inputs (floats from a standard normal, labels among their
classes; where the loss is not a number there, as for log of an input, floats
from |standard normal| + 0.5 instead), takes the initial params moved by a small random step (so that no
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
ATOL = 1e-8  # of the loss's size (at least 1) over the entry's (at least 1): round-off leaves
# about 2e-16 |loss| / h of a difference quotient, 2e-10 of that ratio with this STEP
STEP_LR = 1e-3  # the lr sgd_step is checked with
STEP_TOL = 1e-6  # of the largest gradient (at least 1): sgd_step's move over lr must agree with it


class NotFinite(Exception):
    """The loss is not a finite number where the check would take place."""


@dataclass
class Row:
    name: str
    shape: str
    checked: int
    steepest: float  # the largest |slope| among the entries checked
    worst: float  # the largest |analytic - numeric| (nan if either was)
    tolerance: float  # the most an entry may differ by besides RTOL of its slope
    ok: bool

    @property
    def blind(self) -> bool:
        """Slopes below what round-off in the loss lets the check see: it proves nothing."""
        return self.steepest > 0 and self.tolerance >= self.steepest


def sizes(g: Graph, given: dict[str, int]) -> dict[str, int]:
    """A size for every dim: the given ones, else 3, 4, 5, ... skipping the sizes already in
    use (given, or fixed anywhere in the model: a declaration, one_hot's classes, a reshape),
    so that a transposed index shows as a wrong shape rather than passing by chance."""
    taken = set(given.values())
    taken |= {d for n in g.order() for d in g.shape(n) if isinstance(d, int)}
    out, free = {}, 3
    for d in g.dims:
        if d in given:
            out[d] = given[d]
            continue
        while free in taken:
            free += 1
        out[d], free = free, free + 1
    return out


def _size(d, dims: dict[str, int]) -> int:
    # a reshape's size is a product of dims and numbers, such as 2*B
    return d if isinstance(d, int) else math.prod(int(p) if p.isdigit() else dims[p] for p in d.split("*"))


def entries(shape: tuple, dims: dict[str, int]) -> int:
    """How many entries an array of `shape` has at these dim sizes."""
    return math.prod(_size(d, dims) for d in shape)


POSITIVE = "|standard normal| + 0.5"  # the floats drawn where a standard normal's give no loss


def inputs(g: Graph, dims: dict[str, int], rng: np.random.Generator, positive: bool = False) -> dict[str, np.ndarray]:
    """Floats from a standard normal (or POSITIVE ones); labels in [0, K) for the fewest classes
    they are used with."""
    classes: dict[int, int] = {}
    for n in g.order():
        labels, k = g.labels(n)
        if labels is not None:
            k = _size(k, dims)
            classes[labels] = min(classes.get(labels, k), k)
    out = {}
    for name, n in g.inputs.items():
        shape = tuple(_size(d, dims) for d in g.shape(n))
        if g.node(n)["dtype"] == "int":
            out[name] = rng.integers(0, classes.get(n, 2), size=shape)
        else:
            out[name] = np.abs(rng.normal(size=shape)) + 0.5 if positive else rng.normal(size=shape)
    return out


def point(module, g: Graph, dims: dict[str, int], seed: int, positive: bool = False) -> tuple[dict, dict]:
    """(params, inputs) where the check takes place: random inputs, and the initial params
    moved by a small random step."""
    if any(entries(g.shape(n), dims) * 8 >= 2**63 for n in g.order()):  # more bytes than NumPy can index
        raise MemoryError  # (NumPy's own refusal is a ValueError, which any bug could raise)
    rng = np.random.default_rng(seed)
    given = inputs(g, dims, rng, positive)
    # arrays, 0-d ones too (a NumPy scalar would send sgd_step down its path for converted params)
    params = {k: np.array(v + rng.normal(scale=0.1, size=np.shape(v))) for k, v in module.init_params(seed).items()}
    return params, given


def check(module, g: Graph, dims: dict[str, int], seed: int = 0, most: int = 20, positive: bool = False) -> list[Row]:
    """Compare the module's gradients with central differences of its loss, per `wrt` name;
    raise NotFinite when the loss is not a number there."""
    params, given = point(module, g, dims, seed, positive)
    value, grads = module.loss_and_grad(params, **given)
    if not math.isfinite(value):
        raise NotFinite(value)
    loss_scale = ATOL * max(1.0, abs(value))
    rng = np.random.default_rng(seed + 1)
    rows = []
    for name in module.WRT:
        held = params if name in params else given  # `wrt` may name an input too
        at = held[name] = np.array(held[name], dtype=np.float64)  # one copy, moved in place
        picks = sorted(rng.choice(at.size, size=min(most, at.size), replace=False)) if at.size else []
        grad = np.asarray(grads[name])
        slopes, errors, allowed = [0.0], [0.0], [0.0]
        for i in picks:
            x = at.flat[i]
            h = STEP * max(1.0, abs(x))
            allowed.append(loss_scale / max(1.0, abs(x)))  # round-off grows as h shrinks against the loss
            at.flat[i] = x + h
            up = module.loss(params, **given)
            at.flat[i] = x - h
            down = module.loss(params, **given)
            at.flat[i] = x
            numeric = (up - down) / (2 * h)
            analytic = float(grad.flat[i])
            slopes.append(max(abs(analytic), abs(numeric)))
            errors.append(abs(analytic - numeric))
        ok = all(e <= RTOL * s + a for e, s, a in zip(errors, slopes, allowed))  # False for a nan
        worst = float(np.max(errors))  # nan if any is
        rows.append(Row(name, show(at.shape), len(picks), float(np.nanmax(slopes)), worst, max(allowed), ok))
    return rows


def step(module, g: Graph, dims: dict[str, int], seed: int = 0, positive: bool = False) -> float:
    """How far sgd_step's move of a param, over lr, is from that param's gradient from
    loss_and_grad (at -O2 the two are compiled apart), past the round-off of p - lr g, as
    a share of the largest gradient (at least 1); inf if it moves a param not in `wrt`."""
    params, given = point(module, g, dims, seed, positive)
    _, grads = module.loss_and_grad(params, **given)
    moved = {k: v.copy() for k, v in params.items()}
    module.sgd_step(moved, STEP_LR, **given)
    worst = 0.0
    for name, before in params.items():
        after = np.asarray(moved[name])
        if name not in grads:
            worst = worst if np.array_equal(after, before) else math.inf
            continue
        grad = np.asarray(grads[name])
        rounding = 4 * np.finfo(np.float64).eps * np.maximum(np.abs(before), np.abs(after))
        off = np.maximum(np.abs(before - after - STEP_LR * grad) - rounding, 0.0) / STEP_LR
        worst = max(worst, float(np.max(off, initial=0.0)) / max(1.0, float(np.max(np.abs(grad), initial=0.0))))
    return worst


def table(rows: list[Row]) -> list[str]:
    width = max([len(r.name) for r in rows] + [4])
    shape_w = max([len(r.shape) for r in rows] + [5])
    lines = [f"  {'name':<{width}}  {'shape':<{shape_w}}  entries  largest slope  largest error"]
    for r in rows:
        verdict = "DISAGREES"
        if r.blind:
            verdict = f"CANNOT TELL: slopes below {r.tolerance:.1e}"
        elif r.ok:  # a loss far larger than the slopes leaves a loose check: say how loose
            coarse = r.steepest and r.tolerance > 1e-2 * r.steepest
            verdict = f"ok, but only to {r.tolerance:.1e}" if coarse else "ok"
            if not r.steepest:  # zeros agree, but no derivative on the path was put to the test
                verdict = "ok, but every slope checked is 0 (try another --seed or --dims)"
        lines.append(
            f"  {r.name:<{width}}  {r.shape:<{shape_w}}  {r.checked:>7}  {r.steepest:>13.2e}  {r.worst:>13.2e}  {verdict}"
        )
    return lines
