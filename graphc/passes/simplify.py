"""Algebraic simplification: a list of named rules, run to a fixed point.

Each rule is a function `rule(graph, n) -> node | None` named after what it
does, with the identity it applies in its docstring. A rule fires only when the
replacement has exactly n's shape and dtype, so broadcasting never changes. The
rules assume finite values where IEEE arithmetic would differ (x * 0 is 0 even
if x could be inf); none of them widens a function's domain the other way:
exp(log x) is not x for x <= 0, so there is no rule for it.
"""

from __future__ import annotations

from collections.abc import Iterable

from graphc.ir import Graph
from graphc.passes.broadcasting import broadcast_noop, broadcast_operand, reduce_broadcast, scalar_into_fill
from graphc.passes.identities import (
    abs_of_nonnegative,
    add_zero_left,
    add_zero_right,
    div_one,
    exp_over_itself,
    log_exp,
    maximum_zero,
    mul_minus_one,
    mul_one_left,
    mul_one_right,
    mul_zero,
    neg_neg,
    pow_one,
    sub_zero,
    transpose_of_matmul,
    transpose_transpose,
    transpose_vector,
    zero_sub,
)
from graphc.passes.logistic import log_one_minus_sigmoid, log_sigmoid, sigmoid_factor_cancels
from graphc.passes.lookups import (
    cross_entropy_as_pick,
    exp_of_log_softmax,
    flat_one_hot_matmul,
    flat_one_hot_t_matmul,
    log_softmax_as_shift,
    one_hot_matmul,
    one_hot_pick,
    one_hot_scatter_pick,
    one_hot_t_matmul,
    softmax_from_the_loss,
    softmax_minus_one_hot,
    softmax_times_number,
    sum_of_scatter_pick,
)
from graphc.passes.reductions import count_of_factor, sum_of_product, sum_of_square
from graphc.passes.rewrite import Rule, fixed_point, sweep
from graphc.passes.signs import (
    merge_const_mul,
    mul_neg_neg,
    neg_into_const,
    neg_into_sub,
    neg_out_of_sum,
    neg_outward,
    recip_mul,
    scalar_divisor,
)

# ------------------------------------------------------------------ the list

RULES: tuple[Rule, ...] = (
    # units and zeros: x*1, 1*x, x+0, 0+x, x-0, x/1, x^1, x*0 (shape permitting), 0-x, x*-1,
    # maximum(x, 0) as relu(x)
    mul_one_right,
    mul_one_left,
    add_zero_right,
    add_zero_left,
    sub_zero,
    div_one,
    pow_one,
    mul_zero,
    zero_sub,
    mul_minus_one,
    maximum_zero,
    # an op and its inverse: --x, x.T.T, the transpose of a vector, (a @ b.T).T, log(exp x), exp(x) / exp(x)
    neg_neg,
    transpose_transpose,
    transpose_vector,
    transpose_of_matmul,
    log_exp,
    exp_over_itself,
    # |x| of a value never below 0 (exp, sigmoid, softplus, a square, an abs): log's derivative over it
    abs_of_nonnegative,
    # a logistic loss as derived: log(sigmoid x) and log(1 - sigmoid x) as softplus, exact at any x,
    # and in their gradients the sigmoid (or 1 - sigmoid) divided by and multiplied by cancels
    log_sigmoid,
    log_one_minus_sigmoid,
    sigmoid_factor_cancels,
    # broadcasting the gradients of sum, mean and the loss seeds make
    broadcast_noop,
    broadcast_operand,
    scalar_into_fill,
    reduce_broadcast,
    # constants merged and signs moved where they cost nothing
    merge_const_mul,
    neg_into_const,
    neg_into_sub,
    mul_neg_neg,
    neg_outward,
    neg_out_of_sum,
    recip_mul,
    scalar_divisor,
    # one_hot(labels, K) never made: a matrix product with it is a row lookup (an embedding) or
    # its gradient, an elementwise one summed over the classes picks each row's value at its
    # label (a log-likelihood written out) and its gradient places a value there, and taken
    # from a softmax (cross_entropy's gradient) it is a 1 off each row; a placed value summed over
    # the classes is that value again. Before the reductions:
    # a one-hot of one label summed whole is a pick too, not an inner product
    one_hot_matmul,
    one_hot_t_matmul,
    flat_one_hot_matmul,
    flat_one_hot_t_matmul,
    one_hot_pick,
    one_hot_scatter_pick,
    softmax_minus_one_hot,
    sum_of_scatter_pick,
    # where the gradient is taken, a cross-entropy from its logits less their max and those
    # values' exp, so that its gradient is that exp over its sums with 1 off each label, not a
    # softmax computed again
    cross_entropy_as_pick,
    softmax_from_the_loss,
    # and a log-softmax whose gradient is taken, whose softmax is those exponentials over their sums
    log_softmax_as_shift,
    exp_of_log_softmax,
    softmax_times_number,
    # a reduction that consumes its producer: a sum of a product is one dot, no temporary
    sum_of_product,
    sum_of_square,
    count_of_factor,
)

BY_NAME: dict[str, Rule] = {r.__name__: r for r in RULES}


def table() -> str:
    """The rules as a printable table: name, the ops it looks at, the identity it applies."""
    rows = []
    for r in RULES:
        doc = " ".join((r.__doc__ or "").split())
        rows.append(f"{r.__name__:<20} {' '.join(sorted(getattr(r, 'ops', ['*']))):<28} {doc}")
    return "\n".join(rows)


def simplify(graph: Graph, rules: Iterable[str] | None = None) -> Graph:
    """Apply the named rules (default: all of them) until none fires.

    pre:  a well-formed graph.
    post: a new graph computing the same values (up to rounding) for finite
          inputs, where no rule fires on any node; nodes left without users stay
          (dce removes them).
    """
    chosen = RULES if rules is None else tuple(BY_NAME[name] for name in rules)
    return fixed_point(graph, lambda g: sweep(g, chosen))
