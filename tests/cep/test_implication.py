"""`cep.implication.implies`: proofs it gives must be true; what it cannot prove it says False."""

from __future__ import annotations

import pytest

from cep import conditions as C
from cep.implication import implies

T = C.field("t")


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (T >= 60, T >= 50, True),
        (T >= 50, T >= 50, True),
        (T > 50, T >= 50, True),
        (T >= 50, T > 50, False),
        (T >= 40, T >= 50, False),
        (T == 55, T >= 50, True),
        (T <= 10, T < 20, True),
        (T <= 10, T >= 0, False),
        ((T >= 60) | (T >= 70), T >= 50, True),
        ((T >= 60) | (T >= 40), T >= 50, False),
        ((T >= 60) & (C.field("r") == "x"), T >= 50, True),
        (T >= 60, (T >= 50) | (C.field("r") == "x"), True),
        (T >= 60, (T >= 50) & (C.field("r") == "x"), False),
        (C.field("r") == "x", C.field("r").isin(["x", "y"]), True),
        (C.field("u") >= 60, T >= 50, False),
        (C.false(), T >= 50, True),
        (T >= 60, C.true(), True),
    ],
)
def test_implies(a, b, expected):
    assert implies(a, b) is expected


def test_a_proof_holds_on_sample_events():
    events = [{"t": t} for t in (-1, 0, 10, 49.9, 50, 50.1, 60, 70)] + [{}]
    pairs = [(T >= 60, T >= 50), (T > 50, T >= 50), (T == 55, T >= 50), (T <= 10, T < 20)]
    for a, b in pairs:
        assert implies(a, b)
        assert all(b(e) for e in events if a(e))
