"""Buffer planning: which values of a generated function are computed into reused arrays.

At -O2 a generated function computes each array value with the op's `out=` form
(`np.matmul(x, W1, out=ws[0])`) into a workspace: a list of arrays made once per
thread and per set of dim sizes, so a training step allocates nothing. The plan
walks the statements in order, counting how many reads of each value are still
to come, and:

- computes an elementwise op *in place* over an argument that dies at that op
  and has the op's shape (`np.add(t, b1, out=t)`: the bias add lands in the
  matmul's buffer), a scalar the same statement computes from it first (`t.size`)
  not counting as a later read;
- otherwise takes a free workspace buffer of the value's shape, or adds one;
- hands a buffer back to the free list when the last read of its value is done;
- gives an op that asks for one a constant buffer (ones for a column sum computed
  as ones @ x, zeros for relu), filled when the workspace is made and never
  written: one per shape and value.

A view (`W.T`, a reshape) or an expression spelled inside its user reads its
arguments where it is finally used, so those arguments stay alive until the
view itself dies. Values handed to the caller are never computed into the
workspace (a later call would overwrite them), and neither are scalars.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from graphc.ir import Graph
from graphc.ops import OPS


@dataclass
class Plan:
    slot: dict[int, int] = field(default_factory=dict)  # node -> workspace buffer it is computed into
    inplace: dict[int, int] = field(default_factory=dict)  # node -> argument whose array it overwrites
    buffers: list[tuple] = field(default_factory=list)  # shape of each workspace buffer
    holders: list[list[int]] = field(default_factory=list)  # the nodes each buffer holds in turn
    owned: set[int] = field(default_factory=set)  # arrays the function made itself and nobody else sees
    constant: dict[int, int] = field(default_factory=dict)  # node -> the constant buffer its emission reads
    fill: dict[int, float | str] = field(default_factory=dict)  # constant buffer -> its value or its name
    scratch: dict[int, int] = field(default_factory=dict)  # node -> the buffer its emission works in besides
    made: list[tuple] = field(default_factory=list)  # (shape, dtype) of each new array a statement makes
    # per statement spelling arrays inside it (-O1): how many of `made` exist before it, and its
    # expression as (type of its array or None, the same of each argument spelled inside it)
    temporaries: list[tuple[int, tuple]] = field(default_factory=list)
    # sgd_step's gradients laid out in one array as init_params lays out the params (see
    # pack_gradients): the buffer of that array, and each gradient's buffer -> its
    # (start, stop) in it, a view made with the workspace
    flat: int | None = None
    parts: dict[int, tuple[int, int]] = field(default_factory=dict)

    @property
    def allocated(self) -> list[tuple]:
        """The shapes of the buffers with memory of their own: all but the views of the packed gradients."""
        return [shape for i, shape in enumerate(self.buffers) if i not in self.parts]


def plan_buffers(
    g: Graph,
    order: list[int],
    roots: set[int],
    handed_out: set[int],
    inlined: Callable[[int], bool],
    alias: Callable[[int], bool],
) -> Plan:
    """A buffer plan for computing `order` (topological) up to `roots`.

    `inlined(n)`: n is spelled inside its single user; `alias(n)`: n's result may
    share memory with an argument (a view, or an op that returns its input).
    """
    plan = Plan()
    remaining: dict[int, int] = defaultdict(int)  # reads of each value still to come
    for n in order:
        for a in g.args(n):
            remaining[a] += 1
    owned = plan.owned
    holding: dict[int, int] = {}  # node -> the buffer its value is in now
    free: dict[tuple, list[int]] = defaultdict(list)  # shape -> buffers free for reuse
    constants: dict[tuple, int] = {}  # (shape, value) -> its constant buffer

    def new_buffer(shape: tuple) -> int:
        plan.buffers.append(shape)
        plan.holders.append([])
        return len(plan.buffers) - 1

    def constant_for(n: int) -> None:
        """The constant buffer n's emission reads, if its op asks for one: one per shape and value."""
        ask = OPS[g.op(n)].constant
        wanted = ask and ask(g.node(n)["attrs"], *map(g.type, g.args(n)))
        if wanted:
            if wanted not in constants:
                constants[wanted] = new_buffer(wanted[0])
                plan.fill[constants[wanted]] = wanted[1]
            plan.constant[n] = constants[wanted]

    def scalar_reads(n: int, a: int) -> int:
        """The reads of a in the scalars spelled inside n's own statement (`t.size` in
        `np.multiply(t, 2.0 / t.size, out=t)`): Python makes them before n writes."""
        reads, spelled = 0, [n]  # (a loop, not recursion: a chain of scalars may be 100,000 long)
        while spelled:
            for b in g.args(spelled.pop()):
                if b != a and g.shape(b) == () and inlined(b) and not alias(b):
                    reads += g.args(b).count(a)
                    spelled.append(b)
        return reads

    def read(n: int) -> None:
        # depth first, each argument's arguments before its next sibling, as a recursion would
        # go; a loop over a stack instead, since a chain of scalars may be 100,000 long
        stack = [iter(g.args(n))]
        while stack:
            for a in stack[-1]:
                remaining[a] -= 1
                if remaining[a] == 0 and a not in roots:  # a root is read by the caller: it never dies
                    slot = holding.pop(a, None)
                    if slot is not None:
                        free[g.shape(a)].append(slot)
                    if alias(a) or inlined(a):  # its own arguments are read only now
                        stack.append(iter(g.args(a)))
                        break
            else:
                stack.pop()

    for n in order:
        d = g.node(n)
        if d["op"] in ("input", "param", "const"):
            continue
        if alias(n) or inlined(n):
            continue  # read where it is used, see read()
        op, shape = OPS[d["op"]], g.shape(n)
        array = d["dtype"] == "float" and shape != ()
        if op.into is None or not array or n in handed_out:
            if array:  # a fresh array from the op's plain form, which may read a constant too
                owned.add(n)
                constant_for(n)
            read(n)
            continue
        target = None
        if op.inplace:
            for a in g.args(n):
                if a in owned and remaining[a] - scalar_reads(n, a) == 1 and a not in roots and g.shape(a) == shape:
                    target = a
                    break
        if target is not None:
            plan.inplace[n] = target
            if target in holding:
                holding[n] = plan.slot[n] = holding.pop(target)
                plan.holders[plan.slot[n]].append(n)
        else:
            slot = free[shape].pop() if free[shape] else new_buffer(shape)
            holding[n] = plan.slot[n] = slot
            plan.holders[slot].append(n)
        constant_for(n)  # after n's own buffer, so the workspace lists them in that order
        if op.scratch:  # a buffer no live value holds (n's own and its arguments' are taken), free again after n
            plan.scratch[n] = free[shape].pop() if free[shape] else new_buffer(shape)
            free[shape].append(plan.scratch[n])
        owned.add(n)
        read(n)
    return plan


def pack_gradients(plan: Plan, grads: list[int]) -> None:
    """Lay out the buffers of `grads` (every param's gradient, in the order of the params) in
    one array, each a view of it at the param's place in init_params' array of all the params,
    so that one subtraction moves them all (plan.flat is set then). Only where each gradient
    is computed into a buffer of its own (not a scalar, not a view of another value, not
    shared with another param's gradient): that buffer has the gradient's shape, its param's,
    whose sizes are all fixed."""
    slots = [plan.slot.get(n) for n in grads]
    if not grads or None in slots or len(set(slots)) < len(slots):
        return
    start = 0
    for s in slots:
        size = math.prod(plan.buffers[s])
        plan.parts[s] = (start, start + size)
        start += size
    plan.buffers.append((start,))
    plan.holders.append([])
    plan.flat = len(plan.buffers) - 1


def maker_name(k: int) -> str:
    """The generated function making a module's k-th workspace: `_workspace_arrays`, then `_2`, ..."""
    return "_workspace_arrays" + (f"_{k}" if k > 1 else "")


@dataclass
class Pool:
    """The workspaces of one module, shared by its functions.

    The functions whose buffers need the same dims (`sizes`) compute in one
    workspace: a function's k-th buffer of a shape and fill is the workspace's
    k-th array of that shape and fill, added when the workspace has fewer. The
    functions are placed in turn and arrays are only ever added, so a program
    that calls them all holds, per shape, the most any one function needs rather
    than their sum. Sharing is safe because a function never hands the caller a
    workspace array and never calls another while it computes in one, and every
    thread has its own workspaces.
    """

    arrays: dict[tuple[str, ...], list[tuple]] = field(default_factory=dict)  # sizes -> (shape, fill) per array
    index: dict[str, list[int]] = field(default_factory=dict)  # function -> workspace array of each of its buffers
    plans: dict[str, Plan] = field(default_factory=dict)  # function -> its own buffer plan
    sizes: dict[str, tuple[str, ...]] = field(default_factory=dict)  # function -> its workspace's dims
    _by_key: dict[tuple, list[int]] = field(default_factory=dict)  # (sizes, shape, fill) -> its arrays

    def place(self, function: str, plan: Plan, sizes: tuple[str, ...]) -> list[int]:
        """Where each of `function`'s buffers lives in the workspace for `sizes`."""
        arrays = self.arrays.setdefault(sizes, [])
        taken: dict[tuple, int] = defaultdict(int)  # key -> how many of its arrays this function has
        index: dict[int, int] = {}
        # the array holding the packed gradients first, as a view of it is made after it, and
        # the views last, in the order of the params
        order = sorted(range(len(plan.buffers)), key=lambda i: (i != plan.flat, plan.parts.get(i, (-1,))[0]))
        for i in order:
            fill = plan.fill.get(i)
            if i in plan.parts:  # a view of the gradients' array, never shared: ("part", its index, start, stop)
                fill = ("part", index[plan.flat], *plan.parts[i])
            key = (sizes, plan.buffers[i], fill)
            same = self._by_key.setdefault(key, [])
            if taken[key] == len(same):
                arrays.append(key[1:])
                same.append(len(arrays) - 1)
            index[i] = same[taken[key]]
            taken[key] += 1
        index = [index[i] for i in range(len(plan.buffers))]
        self.index[function], self.sizes[function] = index, sizes  # (plans: every function's, set by its emitter)
        return index

    def maker(self, sizes: tuple[str, ...]) -> str:
        """The generated function making the workspace for `sizes`."""
        return maker_name(list(self.arrays).index(sizes) + 1)

    def users(self, sizes: tuple[str, ...]) -> list[str]:
        """The functions computing in the workspace for `sizes`, in the order placed."""
        return [f for f in self.plans if self.plans[f].buffers and self.sizes[f] == sizes]
