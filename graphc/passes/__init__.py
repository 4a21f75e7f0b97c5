"""The optimization passes: pure Graph -> Graph functions, and the levels that combine them.

    fold      scalars computed from consts alone become consts       (fold.py)
    simplify  named algebraic rules, to a fixed point                (simplify.py)
    cse       one node per distinct op, attrs and arguments          (cse.py)
    dce       only what the outputs, objective and gradients need    (dce.py)
    xent      the softmax + cross-entropy gradient, scaled directly  (xent.py)

No pass edits its argument; each returns a graph whose ids are 0..N-1 in
topological order, whose bookkeeping (inputs, params, outputs, objective,
grads) names its own nodes, and whose nodes keep the `key` of the node of the
unoptimized graph they stand for.
"""

from __future__ import annotations

from collections.abc import Callable

from graphc.ir import Graph
from graphc.passes import xent
from graphc.passes.cse import cse, signature
from graphc.passes.dce import dce, sweep_dead
from graphc.passes.fold import RULES as FOLD_RULES
from graphc.passes.fold import fold
from graphc.passes.rewrite import Rule, fixed_point, renumber, sweep, verify
from graphc.passes.simplify import RULES, simplify
from graphc.passes.xent import rewrite_xent

Pass = Callable[[Graph], Graph]

PASSES: dict[str, Pass] = {"fold": fold, "simplify": simplify, "cse": cse, "dce": dce, "xent": rewrite_xent}

# the rules of the rewriting passes, in the order a combined sweep tries them
RULES_OF: dict[str, tuple[Rule, ...]] = {"xent": xent.RULES, "fold": FOLD_RULES, "simplify": RULES}

# what each -O level runs
LEVELS: dict[int, tuple[str, ...]] = {
    0: (),
    1: ("fold", "simplify", "cse", "dce"),
    2: ("xent", "fold", "simplify", "cse", "dce"),
}


def optimize(graph: Graph, level: int) -> Graph:
    """The graph after the passes of `level` (0: none, 1: fold, simplify, cse, dce; 2: all).

    A round is one sweep with the rules of every rewriting pass of the level
    (xent, fold, simplify), sharing equal nodes as it goes (cse), then dce;
    rounds repeat until one changes nothing. Rules meet their operands in another
    order than the passes run one after another would give them, so that order
    may end at a graph of a few nodes more or fewer (`--report` shows both).

    pre:  a well-formed graph (the input is never changed).
    post: a new graph with the same outputs, objective and gradients; at levels 1
          and 2 a fixed point: optimizing it again gives the same graph.
    """
    names = LEVELS[level]
    if not names:
        return renumber(graph)
    rules = tuple(r for name in names for r in RULES_OF.get(name, ()))
    share = signature if "cse" in names else None

    def round_(g: Graph) -> tuple[Graph, bool]:
        g, changed = sweep(g, rules, share)
        if "dce" in names:
            g, dropped = sweep_dead(g)
            changed = changed or dropped
        return g, changed

    return fixed_point(graph, round_)


__all__ = [
    "LEVELS",
    "PASSES",
    "RULES",
    "cse",
    "dce",
    "fold",
    "optimize",
    "renumber",
    "rewrite_xent",
    "simplify",
    "verify",
]
