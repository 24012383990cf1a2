"""The compiled automaton's shape for representative patterns: states, edges, actions, conditions.

The graphs are the ones Flink's NFACompiler builds for the same patterns (it walks from the last stage
back to the first). A change to the compiler that changes a graph fails here with the two graphs side
by side, before any match-level test has to explain why.

Graphs are compared as text that does not depend on state ids: a state is its stage name, with a
prime for each earlier state of the same name met breadth-first from the start, and its kind unless
normal; an edge is ``ACTION target: condition`` in the state's edge order.
"""

from __future__ import annotations

import pytest

from cep import Pattern
from cep import conditions as C
from cep.compiler import compile_pattern
from cep.graph import ACTION_NAMES, Edge, Nfa
from jobs.bushfire.config import DetectionConfig
from jobs.bushfire.patterns import ALERT, ORIGINAL_2018, fire_chain

A, B, X = (C.field("k") == "a"), (C.field("k") == "b"), (C.field("k") == "x")
SHORT = {repr(A): "a", repr(B): "b", repr(X): "x", "C.true()": "true"}


def _condition(spec: object) -> str:
    text = repr(spec)
    for long, short in SHORT.items():
        text = text.replace(long, short)
    return text


def shape(nfa: Nfa) -> dict[str, list[str]]:
    """The graph as {state: [edges]}: the states reached from the start breadth-first, then any
    other (the final state of a pattern ending in `not_followed_by`, which only a timeout completes)."""
    labels: dict[int, str] = {}
    seen_names: dict[str, int] = {}
    order = [nfa.start]
    for state in order:
        for edge in state.edges:
            if edge.target not in order:
                order.append(edge.target)
    order += [state for state in nfa.states if state not in order]
    for state in order:
        primes = seen_names.get(state.name, 0)
        seen_names[state.name] = primes + 1
        kind = "" if state.kind == "normal" else f" ({state.kind})"
        labels[state.sid] = ("$end" if state.name == "$endState$" else state.name) + "'" * primes + kind

    def edge(e: Edge) -> str:
        return f"{ACTION_NAMES[e.action]} {labels[e.target.sid]}: {_condition(e.spec)}"

    return {labels[s.sid]: [edge(e) for e in s.edges] for s in order}


GRAPHS = {
    "next: no IGNORE edge, the next event must match": (
        Pattern.begin("a").where(A).next("b").where(B),
        {"a": ["TAKE b: a"], "b": ["TAKE $end (final): b"], "$end (final)": []},
    ),
    "followed_by: skip events until the next match": (
        Pattern.begin("a").where(A).followed_by("b").where(B),
        {"a": ["TAKE b: a"], "b": ["TAKE $end (final): b", "IGNORE b: negate(b)"], "$end (final)": []},
    ),
    "followed_by_any: skip any event, matching or not": (
        Pattern.begin("a").where(A).followed_by_any("b").where(B),
        {"a": ["TAKE b: a"], "b": ["TAKE $end (final): b", "IGNORE b: true"], "$end (final)": []},
    ),
    "optional: a PROCEED bypass, and an ignore state without it": (
        Pattern.begin("a").where(A).followed_by("b").where(B).optional().followed_by("x").where(X),
        {
            "a": ["TAKE b: a"],
            "b": ["TAKE x: b", "PROCEED x: true", "IGNORE b': negate(b)"],
            "x": ["TAKE $end (final): x", "IGNORE x: negate(x)"],
            "b'": ["TAKE x: b", "IGNORE b': negate(b)"],
            "$end (final)": [],
        },
    ),
    "one_or_more: a first state, then a looping state with its ignore state": (
        Pattern.begin("a").where(A).followed_by("b").where(B).one_or_more(),
        {
            "a": ["TAKE b: a"],
            "b": ["TAKE b': b", "IGNORE b: negate(b)"],
            "b'": ["PROCEED $end (final): true", "TAKE b': b", "IGNORE b'': negate(b)"],
            "$end (final)": [],
            "b''": ["TAKE b': b", "IGNORE b'': negate(b)"],
        },
    ),
    "times(2): one state per repetition, relaxed inside unless consecutive()": (
        Pattern.begin("a").where(A).next("b").where(B).times(2),
        {
            "a": ["TAKE b: a"],
            "b": ["TAKE b': b"],
            "b'": ["TAKE $end (final): b", "IGNORE b': negate(b)"],
            "$end (final)": [],
        },
    ),
    "not_next: PROCEED on, or into a STOP state that ends the run": (
        Pattern.begin("a").where(A).not_next("b").where(B).followed_by("x").where(X),
        {
            "a": ["TAKE b: a"],
            "b": ["PROCEED x: negate(b)", "PROCEED b' (stop): b"],
            "x": ["TAKE $end (final): x", "IGNORE x: negate(x)"],
            "b' (stop)": ["TAKE b' (stop): b"],
            "$end (final)": [],
        },
    ),
    "not_followed_by at the end: a PENDING state the window completes": (
        Pattern.begin("a").where(A).not_followed_by("b").where(B).within(10),
        {
            "a": ["TAKE b (pending): a"],
            "b (pending)": ["PROCEED b' (stop): b", "IGNORE b (pending): negate(b)"],
            "b' (stop)": ["TAKE b' (stop): b"],
            "$end (final)": [],  # unreachable: the pending state completes when the window ends
        },
    ),
}


@pytest.mark.parametrize("pattern, expected", GRAPHS.values(), ids=list(GRAPHS))
def test_compiled_graph(pattern: Pattern, expected: dict[str, list[str]]) -> None:
    assert shape(compile_pattern(pattern)) == expected


@pytest.mark.parametrize(
    "variant, ignore", [(ALERT, "true"), (ORIGINAL_2018, "negate(")], ids=["alert", "2018"]
)
def test_the_fire_chain_is_one_state_per_stage(variant, ignore: str) -> None:
    """Five stages, five states in a line: each TAKEs into the next, and (but the first) IGNOREs the
    rest: any event for the job's `followed_by_any`, a non-matching one for the 2018 `followed_by`."""
    nfa = compile_pattern(fire_chain(DetectionConfig(chain_length=5), variant))
    graph = shape(nfa)
    assert list(graph) == ["n1", "n2", "n3", "n4", "n5", "$end (final)"]
    assert graph["n1"] == ["TAKE n2: (C.field('temperature') >= 50.0)"]
    for i, name in enumerate(["n2", "n3", "n4", "n5"], start=3):
        target = f"n{i}" if i <= 5 else "$end (final)"
        take, skip = graph[name]
        assert take.startswith(f"TAKE {target}: ") and f"C.last('n{i - 2}', 'node')" in take
        assert skip.startswith(f"IGNORE {name}: {ignore}")
    assert nfa.window_ms == 600_000 and (nfa.dedupe_key is not None) == variant.dedupe_runs
