"""THE op table: every op graphc knows, built from explicit lists (no registration side effects).

`OPS` maps an op name to its OpDef; `BUILTINS` maps each function name of the
language to the op it makes and the arguments it takes.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphc.ops import elementwise, linalg, reduce, structural
from graphc.ops.base import Facts, Named, OpDef, ShapeError, Type, V, show  # noqa: F401  (re-exported)


def _leaf_shape(attrs) -> Type:
    return tuple(attrs["shape"]), attrs.get("dtype", "float")


LEAVES: tuple[OpDef, ...] = (
    OpDef("input", (), _leaf_shape, lambda xp, attrs: attrs["name"]),
    OpDef("param", (), _leaf_shape, lambda xp, attrs: attrs["name"]),
    OpDef("const", (), lambda attrs: ((), "float"), lambda xp, attrs: repr(float(attrs["value"]))),
    # a number the generated function takes as its own argument: sgd_step's learning rate
    OpDef("arg", (), lambda attrs: ((), "float"), lambda xp, attrs: attrs["name"]),
)


def _index(*groups: tuple[OpDef, ...]) -> dict[str, OpDef]:
    table: dict[str, OpDef] = {}
    for group in groups:
        for opdef in group:
            if opdef.name in table:
                raise ValueError(f"op {opdef.name} is defined twice")
            table[opdef.name] = opdef
    return table


OPS: dict[str, OpDef] = _index(LEAVES, elementwise.OPS, reduce.OPS, linalg.OPS, structural.OPS)


def shared_argument(op: str, attrs: dict, xp: str = "np") -> int | None:
    """Which argument an op's result may share memory with: a view's (its first), or the one
    its emission hands back as it is; None where the result is an array of its own."""
    opdef = OPS[op]
    if opdef.view:
        return 0
    names = [f"_{i}" for i in range(len(opdef.inputs))]
    spelled = opdef.emit(xp, attrs, *names) if names else None
    return names.index(spelled) if spelled in names else None


@dataclass(frozen=True)
class Builtin:
    """A function of the language: the op it makes, its positional arguments, its keywords."""

    op: str
    args: tuple[str, ...]
    keywords: tuple[tuple[str, object], ...] = ()  # (name, default)


_ELEMENTWISE = "exp log sqrt abs square relu sigmoid tanh softplus sin cos".split()
_REDUCE_KW = (("axis", None), ("keepdims", False))

BUILTINS: dict[str, Builtin] = {
    **{name: Builtin(name, ("x",)) for name in _ELEMENTWISE},
    "maximum": Builtin("maximum", ("a", "b")),
    "minimum": Builtin("minimum", ("a", "b")),
    "transpose": Builtin("transpose", ("x",)),
    "reshape": Builtin("reshape", ("x", "shape")),
    **{name: Builtin(name, ("x",), _REDUCE_KW) for name in ("sum", "mean", "max", "logsumexp")},
    "softmax": Builtin("softmax", ("x",), (("axis", -1),)),
    "log_softmax": Builtin("log_softmax", ("x",), (("axis", -1),)),
    "one_hot": Builtin("one_hot", ("labels", "K")),
    "cross_entropy": Builtin("cross_entropy", ("logits", "labels")),
}

for _b in BUILTINS.values():
    assert _b.op in OPS, _b.op
