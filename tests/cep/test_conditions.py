"""Declarative conditions: Python evaluation, SQL rendering, and that both keep the same events."""

from __future__ import annotations

import itertools
import pickle
import sqlite3

import pytest

from cep import CepError
from cep import conditions as C


def test_field_comparisons_on_dicts_and_objects() -> None:
    class Reading:
        temperature = 61.0

    hot = C.field("temperature") >= 50
    assert hot({"temperature": 50}) is True
    assert hot({"temperature": 49.9}) is False
    assert hot(Reading()) is True
    assert hot({}) is False  # missing -> unknown -> not accepted


def test_combinators_and_string_matches() -> None:
    cond = (C.field("region") == "r1") & (C.field("node").startswith("r1-") | C.field("node").contains("x"))
    assert cond({"region": "r1", "node": "r1-n1"})
    assert cond({"region": "r1", "node": "zxz"})
    assert not cond({"region": "r2", "node": "r1-n1"})
    assert C.field("k").isin(["a", "b"])({"k": "b"})
    assert C.field("k").is_null()({}) and C.field("k").not_null()({"k": 0})
    assert (C.field("k") == None)({"k": None})  # noqa: E711 - builds IS NULL


def test_negation_is_three_valued_like_sql() -> None:
    assert (~(C.field("t") > 5))({"t": 1}) is True
    assert (~(C.field("t") > 5))({}) is False  # NOT unknown is unknown
    assert (~~(C.field("t") > 5))({}) is False


def test_mixing_with_lambdas_and_context_refs() -> None:
    cond = (C.field("t") >= 50) & (lambda e: e["node"] != "bad")
    assert cond({"t": 60, "node": "ok"}) and not cond({"t": 60, "node": "bad"})

    class Ctx:
        def get_events_for_pattern(self, name: str) -> list:
            return [{"node": "n0"}, {"node": "n7"}] if name == "n1" else []

    linked = C.field("infectedBy") == C.last("n1", "node")
    assert linked({"infectedBy": "n7"}, Ctx())
    assert not linked({"infectedBy": "n0"}, Ctx())
    assert not (C.field("infectedBy") == C.last("nope", "node"))({"infectedBy": "n7"}, Ctx())
    assert not linked({"infectedBy": "n7"})  # no context: unknown


def test_to_sql_rendering() -> None:
    cond = (C.field("temperature") >= 50) & ~(C.field("region") == "o'hara") | C.field("battery").is_null()
    assert cond.to_sql() == "((`temperature` >= 50 AND NOT `region` = 'o''hara') OR `battery` IS NULL)"
    assert (C.field("node").startswith("r1_%")).to_sql() == "`node` LIKE 'r1\\_\\%%' ESCAPE '\\'"
    assert C.field("k").isin([1, 2.5, "x"]).to_sql() == "`k` IN (1, 2.5, 'x')"
    assert (C.field("ok") == True).to_sql() == "`ok` = TRUE"  # noqa: E712
    assert C.true().to_sql() == "TRUE"


@pytest.mark.parametrize(
    "cond",
    [
        C.field("x") == C.last("a", "y"),
        C.as_condition(lambda e: True),
        C.is_instance(dict),
        C.field("x") == [1],
        C.field("x") > float("nan"),
    ],
)
def test_to_sql_refuses_what_sql_cannot_say(cond: C.Condition) -> None:
    with pytest.raises(CepError):
        cond.to_sql()


ROWS_VALUES = {"a": [None, 1, 5, 9], "s": [None, "r1-x", "r2_y", "q%"]}


def _conditions() -> list[C.Condition]:
    a, s = C.field("a"), C.field("s")
    atoms = [
        a > 3,
        a == 5,
        a != 1,
        a <= 5,
        s.startswith("r1"),
        s.contains("_"),
        s.isin(["q%", "r2_y"]),
        a.is_null(),
    ]
    out = list(atoms)
    for x, y in itertools.combinations(atoms, 2):
        out += [x & y, x | ~y, ~(x & y), ~(x | y)]
    return out


def test_python_and_sql_keep_exactly_the_same_events() -> None:
    """Evaluate every condition in Python and in SQLite (three-valued logic) over all rows."""
    db = sqlite3.connect(":memory:")
    db.execute("PRAGMA case_sensitive_like = ON")
    db.execute("CREATE TABLE t (id INTEGER, a INTEGER, s TEXT)")
    rows = [dict(zip(("a", "s"), combo)) for combo in itertools.product(*ROWS_VALUES.values())]
    db.executemany("INSERT INTO t VALUES (?, ?, ?)", [(i, r["a"], r["s"]) for i, r in enumerate(rows)])
    for cond in _conditions():
        in_sql = {i for (i,) in db.execute(f"SELECT id FROM t WHERE {cond.to_sql()}")}
        in_python = {i for i, r in enumerate(rows) if cond(r)}
        assert in_python == in_sql, cond


def test_conditions_pickle_without_generated_code() -> None:
    cond = (C.field("t") >= 50) & C.field("r").isin(["a"])
    assert cond({"t": 51, "r": "a"})  # compiles and caches
    copy = pickle.loads(pickle.dumps(cond))
    assert copy({"t": 51, "r": "a"}) and not copy({"t": 49, "r": "a"})


def test_necessary_part() -> None:
    hot = C.field("t") >= 50
    assert repr((hot & (lambda e: True)).necessary()) == repr(hot)
    assert ((lambda e: True) | hot).necessary() is None  # an OR with an opaque side says nothing
    assert repr((hot & (C.field("x") == C.last("a", "b"))).necessary()) == repr(hot)


def test_callables_without_a_signature_take_the_event() -> None:
    import operator

    flag = C.as_condition(operator.itemgetter("flag"))
    assert flag({"flag": True}) and not flag({"flag": False})


def test_unseen_keeps_partial_matches_free_of_repeats() -> None:
    from cep import Matcher, Pattern

    p = (
        Pattern.begin("n1")
        .where(C.field("t") >= 50)
        .followed_by_any("n2")
        .where((C.field("t") >= 50) & C.unseen("node"))
        .followed_by_any("n3")
        .where((C.field("t") >= 50) & C.unseen("node"))
    )
    m = Matcher(p)
    paths = []
    for i, node in enumerate(["x", "y", "x", "z"]):
        paths += [
            tuple(es[0]["node"] for es in match.values()) for match in m.process({"node": node, "t": 60}, i)
        ]
    assert sorted(paths) == [("x", "y", "z"), ("y", "x", "z")]
    assert repr(C.unseen("node")) == "C.unseen('node')"
    assert ((C.field("t") >= 1) & C.unseen("node")).necessary().to_sql() == "`t` >= 1"


def test_unseen_reads_object_events_and_a_context_without_the_buffer_walk() -> None:
    """Events that are objects (read with getattr), and a condition context that only offers
    `accepted_events` (a context of the user's own): the same verdicts as with dicts."""
    from types import SimpleNamespace

    from cep import Matcher, Pattern

    p = (
        Pattern.begin("n1")
        .followed_by_any("n2")
        .where(C.unseen("node"))
    )
    m = Matcher(p)
    found = []
    for i, node in enumerate(["x", "x", "y"]):
        found += [(ms["n1"][0].node, ms["n2"][0].node) for ms in m.process(SimpleNamespace(node=node), i)]
    assert sorted(found) == [("x", "y"), ("x", "y")]

    class OnlyAccepted:
        def __init__(self, events: list) -> None:
            self.events = events

        def accepted_events(self) -> list:
            return self.events

    unseen = C.unseen("node")
    assert unseen({"node": "b"}, OnlyAccepted([{"node": "a"}]))
    assert not unseen({"node": "a"}, OnlyAccepted([{"node": "a"}]))
