"""The parse automaton: lark's LALR(1) tables for the grammar, walked by graphc's own loops."""

from __future__ import annotations

from itertools import chain

from lark.parse_tree_builder import ExpandSingleChild
from lark.parsers.lalr_analysis import Shift


class Tables:
    """lark's LALR(1) tables for the grammar, laid out for graphc's own two-step walk.

    lark builds the tables and the per-rule callbacks (which drop punctuation and
    call parser._Build). `recognize` runs the automaton over token kinds alone and keeps
    a trace of its steps; `build` replays the trace with the real tokens, calling
    the callbacks. A syntax error is thus found before any token object or tree
    node is made (a 200,000-line file with an error on its last line: about 3 s,
    against 15 s for lark's own loop with the tree built as it goes, which also
    hashes each rule in Python at every reduction).
    """

    def __init__(self, conf):
        states = conf.parse_table.states
        size = max(states) + 1
        # actions[state][terminal]: the next state (a shift) or (length, rule name, callback) (a reduce)
        self.actions: list[dict[str, object]] = [{} for _ in range(size)]
        self.gotos: list[dict[str, int]] = [{} for _ in range(size)]  # gotos[state][rule name]
        for state, row in states.items():
            for symbol, (action, arg) in row.items():
                symbol = str(symbol)  # lark's keys are Tokens, whose == is Python code; plain str is faster
                if not symbol.isupper():
                    self.gotos[state][symbol] = arg
                elif action is Shift:
                    self.actions[state][symbol] = arg
                else:
                    callback = conf.callbacks[arg]
                    # `?rule: other` with one child: the value passes through unchanged
                    keep = isinstance(callback, ExpandSingleChild) and len(arg.expansion) == 1
                    self.actions[state][symbol] = (len(arg.expansion), str(arg.origin.name), None if keep else callback)
        self.start, self.end = conf.start_state, conf.end_state

    def recognize(self, kinds) -> list:
        """Run the automaton over token kinds alone and return its trace: per step
        None for a shift or the reduce action taken. Raise Stuck at the first
        token that does not fit, before anything is built."""
        actions, gotos, end = self.actions, self.gotos, self.end
        states, trace = [self.start], []
        step = trace.append
        for kind in chain(kinds, ("$END",)):
            while True:
                act = actions[states[-1]].get(kind)
                if act.__class__ is int:  # never for $END, which only reduces
                    states.append(act)
                    step(None)
                    break
                if act is None:
                    raise Stuck(trace.count(None), self.accepts(states))
                step(act)
                size, rule, _ = act
                if size:
                    del states[-size:]
                states.append(gotos[states[-1]][rule])
                if states[-1] == end:  # the start rule, reduced at $END: the file parses
                    return trace
        raise AssertionError("the automaton ran out of input without accepting or failing")

    @staticmethod
    def build(trace: list, tokens) -> object:
        """Replay a trace: shift the next token, or call the rule's callback on its children."""
        values: list = []
        push, take = values.append, iter(tokens).__next__
        for act in trace:
            if act is None:
                push(take())
                continue
            size, _, callback = act
            if callback is None:  # the value passes through
                continue
            if size:
                children = values[-size:]
                del values[-size:]
            else:
                children = []
            push(callback(children))
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
            size, rule, _ = act
            if size:
                del states[-size:]
            states.append(self.gotos[states[-1]][rule])
            if terminal == "$END" and states[-1] == self.end:
                return True


class Stuck(Exception):
    """The automaton met a token it cannot take: the `at`-th (counting from 0), or the end
    of the file when all were taken, where it would have accepted `accepts`."""

    def __init__(self, at: int, accepts: set[str]):
        self.at, self.accepts = at, accepts
