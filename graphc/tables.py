"""The parse automaton: lark's LALR(1) tables for the grammar, walked by graphc's own loops."""

from __future__ import annotations

from itertools import chain, islice
from operator import itemgetter

from lark.parse_tree_builder import ChildFilter, ExpandSingleChild
from lark.parsers.lalr_analysis import Shift

_DEPTH = 4  # the states under the top that a statement's steps may read and be remembered by


class Tables:
    """lark's LALR(1) tables for the grammar, laid out for graphc's own two-step walk.

    lark builds the tables and the per-rule callbacks (parser._Build's, each given the
    children lark's filter for the rule picks: punctuation dropped). `recognize` runs
    the automaton over token kinds alone and keeps a trace of its steps; `build`
    replays the trace with the real tokens, calling the callbacks. A syntax error is
    thus found before any token object or tree node is made (a 200,000-line file with
    an error on its last line is checked in about 0.8 s, start included; lark's own loop
    builds the tree as it goes and hashes each rule in Python at every reduction).
    """

    def __init__(self, conf):
        states = conf.parse_table.states
        size = max(states) + 1
        # actions[state][terminal]: the next state (a shift) or, for a reduce,
        # (length, rule name, callback, a function picking the callback's children off the stack)
        self.actions: list[dict[str, object]] = [{} for _ in range(size)]
        self.gotos: list[dict[str, int]] = [{} for _ in range(size)]  # gotos[state][rule name]
        reduces, kept, terminals = {}, set(), set()
        for rule, callback in conf.callbacks.items():
            callback, picks = _children(rule, callback)
            length = len(rule.expansion)
            reduces[rule] = (length, str(rule.origin.name), callback, _taker(length, picks))
            terminals |= {s.name for s in rule.expansion if s.is_term}
            kept |= {s.name for s in rule.expansion if s.is_term and (rule.options.keep_all_tokens or not s.filter_out)}
        # the terminals whose tokens lark's filters hand no callback (anonymous ones such as
        # "=", and _NL): the tree needs nothing of them, and is given None in their place
        self.dropped = frozenset(terminals - kept)
        for state, row in states.items():
            for symbol, (action, arg) in row.items():
                symbol = str(symbol)  # lark's keys are Tokens, whose == is Python code; plain str is faster
                if not symbol.isupper():
                    self.gotos[state][symbol] = arg
                elif action is Shift:
                    self.actions[state][symbol] = arg
                else:
                    self.actions[state][symbol] = reduces[arg]
        self.start, self.end = conf.start_state, conf.end_state

    def recognize(self, lines, kinds: list[str]) -> list:
        """Run the automaton over token kinds alone and return its trace: per step
        None for a shift or the reduce action taken, and a _Replay for the steps of a
        statement met before. Raise Stuck at the first token that does not fit, before
        anything is built.

        `lines` yields the count of `kinds` found so far after each statement (Lexer.lines).
        The steps over a statement depend only on its kinds and the states on the stack that
        they pop to: the last statement's reductions, made at this one's first token, pop the
        three under the top. A statement seen before on the same top of the stack (a large
        model's lines are a few kinds of line over and over) takes the steps it took then, in
        one go, rather than a step per token."""
        actions, gotos, end = self.actions, self.gotos, self.end
        state, below, trace = self.start, [], []  # the state on top of the stack, and those under it
        push, step = below.append, trace.append
        # (the top states of the stack, kinds) -> (their steps, as a _Replay; how many states they pop,
        # those pushed, state)
        seen: dict[tuple, tuple] = {}
        done = 0  # the kinds walked
        for count in chain(lines, (None,)):
            if count is None:  # the end of the file
                line, key = ("$END",), None
            else:
                if count == done:
                    continue
                line = tuple(kinds[done:count])
                key = (state, *below[-_DEPTH:], line)
                hit = seen.get(key)
                if hit is not None:
                    replay, pops, pushed, state = hit
                    step(replay)
                    if pops:
                        del below[-pops:]
                    below += pushed
                    done = count
                    continue
                base = low = len(below)  # how deep the stack is, and the least it was since
            mark = len(trace)
            for kind in line:
                while True:
                    act = actions[state].get(kind)
                    if act.__class__ is int:  # never for $END, which only reduces
                        push(state)
                        state = act
                        step(None)
                        break
                    if act is None:  # (shifted: the tokens of the statements before, and this one's so far)
                        raise Stuck(done + trace[mark:].count(None), self.accepts([*below, state]), done)
                    size, rule, callback, _ = act
                    if callback is not None:  # (a rule whose value passes through builds nothing)
                        step(act)
                    if size == 1:  # most reductions: the top state alone is replaced
                        state = gotos[below[-1]][rule]
                    elif size:
                        del below[1 - size :]  # the top state is the size-th
                        if len(below) < low:
                            low = len(below)
                        state = gotos[below[-1]][rule]
                    else:
                        push(state)
                        state = gotos[state][rule]
                    if state == end:  # the start rule, reduced at $END: the file parses
                        return trace
            if key is not None:
                if low > base - _DEPTH or base <= _DEPTH:  # (it read no state under those of the key)
                    seen[key] = (_Replay(trace[mark:]), base - low, below[low:], state)
                done = count
        raise AssertionError("the automaton ran out of input without accepting or failing")

    @staticmethod
    def build(trace: list, tokens) -> object:
        """Replay a trace: shift the next token, or call the rule's callback on its children,
        or take a statement's steps again."""
        values: list = []
        _run(trace, values, iter(tokens))
        return values[-1]

    def accepts(self, states: list[int]) -> set[str]:
        """The terminals that could come next after the states on the stack.

        LALR's own `expected` set merges states, so it lists tokens that cannot come
        next (`x = 1 2` would 'expect' '{' and ','); trying each one is exact.
        """
        return {t for t in self.actions[states[-1]] if self._fits(list(states), t)}

    def _fits(self, states: list[int], terminal: str) -> bool:
        while True:
            act = self.actions[states[-1]].get(terminal)
            if act is None:
                return False
            if act.__class__ is int:
                return True
            size, rule, _, _ = act
            if size:
                del states[-size:]
            states.append(self.gotos[states[-1]][rule])
            if terminal == "$END" and states[-1] == self.end:
                return True


def _run(steps: list, values: list, tokens) -> None:
    """Take the steps of a trace on the stack `values`: shift the next of `tokens`, or call
    the rule's callback on its children, or take the steps of a statement met before."""
    push, take = values.append, tokens.__next__
    for act in steps:
        if act is None:
            push(take())
        elif act.__class__ is tuple:
            size, _, callback, pick = act  # (never a rule whose value passes through: recognize leaves those out)
            children = pick(values)
            if size:
                del values[-size:]
            push(callback(children))
        elif act.run is not None:
            act.run(values, tokens)
        else:
            act.uses += 1
            if act.uses == _COMPILED:
                act.run = _compiled(act.steps)
            _run(act.steps, values, tokens)  # (its steps are single steps: this goes one call deep)


class _Replay:
    """The steps of a statement met again (Tables.recognize), for `_run` to take again.

    A large model is a few kinds of statement over and over, each taking the same steps.
    Taken one by one, the stack's bookkeeping (an append per token; a slice, a delete and an
    append per reduction) costs a quarter of building the tree; a statement met often enough
    has its steps written out as a function (`_compiled`) that `_run` calls instead.
    """

    __slots__ = ("steps", "uses", "run")

    def __init__(self, steps: list):
        self.steps, self.uses, self.run = steps, 0, None


# the use of a statement's steps from which they run as a function. Compiling one costs
# about as much as building a dozen statements, and saves a quarter of each later one: a
# kind of statement met only a few dozen times is not worth it (a model of 3,125 kinds of
# statement, each met 32 times, was built a quarter slower compiling at 32; each met 128
# times, a little faster at 128)
_COMPILED = 128


def _compiled(steps: list):
    """A function that takes the steps of a statement on the stack and the tokens in
    straight-line code: the stack's bookkeeping done once here rather than at every use. For
    `v1 = v0 * w + b` after another statement it reads

        def statement(values, tokens):
            v0, v1, v2 = values[-3:]  # the values under the statement that its reductions take
            del values[-3:]
            t0, t1, t2, t3, t4, t5, t6, t7 = islice(tokens, 8)  # its tokens, `_NL` the last
            r0 = c0([v0, v1])  # each reduction: its callback (here `lines`) on the children it picks
            r1 = c1([t0])
            ...
            r6 = c6([r4, t5, r5])
            r7 = c7((r1, r6))
            values += [r0, r7, t7]  # the values it leaves on the stack

    where a reduction's children are a list or a tuple as Tables.build's picks give them.
    """
    depth = low = 0
    for act in steps:  # how far under its start the statement's reductions reach
        if act is None:
            depth += 1
        else:
            low = min(low, depth - act[0])
            depth += 1 - act[0]
    pops, shifts = -low, steps.count(None)
    stack = [f"v{i}" for i in range(pops)]  # the name of each value on the stack
    tokens = [f"t{i}" for i in range(shifts)]
    lines, made, env = [], 0, {"islice": islice}
    if pops:
        lines += [f"{_listed(stack)} = values[-{pops}:]", f"del values[-{pops}:]"]
    if shifts:
        lines.append(f"{_listed(tokens)} = islice(tokens, {shifts})")
    shifted = iter(tokens)
    for act in steps:
        if act is None:
            stack.append(next(shifted))
            continue
        size, _, callback, pick = act
        children = pick(stack)
        shown = f"[{', '.join(children)}]" if children.__class__ is list else f"({_listed(children)})"
        env[f"c{made}"] = callback
        lines.append(f"r{made} = c{made}({shown})")
        if size:
            del stack[-size:]
        stack.append(f"r{made}")
        made += 1
    lines.append(f"values += [{', '.join(stack)}]")
    exec("def statement(values, tokens):\n    " + "\n    ".join(lines), env)
    return env.pop("statement")  # (left in its globals, it would be a cycle only the collector frees)


def _listed(names) -> str:
    """Names as a tuple's items are written: `a, b`, or `a,` for one."""
    return ", ".join(names) + ("," if len(names) == 1 else "")


def _children(rule, callback) -> tuple:
    """The function a reduction of `rule` calls and the positions of the children it is given.

    lark wraps a callback in a filter that picks the children anew at every reduction
    (a Python call and loop each); where it only drops tokens, its picks are taken out
    once here and the callback called directly. Where it also splices in a helper rule's
    children or puts None for an absent [part], it is replaced by _spliced, which gets
    every child. A helper rule (`("," arg)*`, whose name starts with _) is inlined into
    the rules using it: lark builds a Tree of its children only for them to be taken out
    again, where it gives a plain list here.
    """
    size = len(rule.expansion)
    if isinstance(callback, ExpandSingleChild) and size == 1:  # `?rule: other`: the value passes through
        return None, ()
    helper = rule.origin.name.startswith("_")
    if not isinstance(callback, ChildFilter):
        return (list, tuple(range(size))) if helper else (callback, tuple(range(size)))
    include = [(i, expand, nones[0] if nones else 0) for i, expand, *nones in callback.to_include]
    tail = getattr(callback, "append_none", 0)
    builder = None if helper else callback.node_builder
    if not tail and not any(expand or nones for _, expand, nones in include):
        return builder or list, tuple(i for i, _, _ in include)
    return _spliced(include, tail, builder), tuple(range(size))


def _spliced(include: list[tuple[int, bool, int]], tail: int, builder):
    """lark's child filter, for helper rules given as lists: the children at `include`'s
    positions, a helper's spliced in where `expand` is set, each after `nones` Nones (and
    `tail` more at the end), handed to `builder` (None: the list itself, for a helper)."""

    def call(children):
        out = []
        for i, expand, nones in include:
            if nones:
                out += [None] * nones
            if not expand:
                out.append(children[i])
            elif out:
                out += children[i]
            else:  # the helper's own list, which nothing else holds (its left recursion grows it)
                out = children[i]
        if tail:
            out += [None] * tail
        return out if builder is None else builder(out)

    return call


def _taker(size: int, picks: tuple) -> itemgetter:
    """Picks the children off the top `size` values of the stack in one call: a slice when they
    are side by side (a list), else each by its index (a tuple)."""
    if not picks:
        return itemgetter(slice(0, 0))
    if list(picks) == list(range(picks[0], picks[-1] + 1)):
        return itemgetter(slice(picks[0] - size, picks[-1] + 1 - size or None))
    return itemgetter(*(i - size for i in picks))


class Stuck(Exception):
    """The automaton met a token it cannot take: the `at`-th (counting from 0), or the end
    of the file when all were taken, where it would have accepted `accepts`; `start` is
    the first token of the statement it is in."""

    def __init__(self, at: int, accepts: set[str], start: int):
        self.at, self.accepts, self.start = at, accepts, start
