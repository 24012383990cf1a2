"""Emberwatch's CEP engine: Flink CEP's Pattern API and NFA semantics in pure Python.

Build a pattern with `Pattern.begin(...)`, run it per key with `Matcher`, and use
`cep.conditions` for declarative conditions the engine (and a Flink job) can reason about.
"""

from __future__ import annotations

from cep import conditions
from cep.aftermatch import AfterMatchSkipStrategy
from cep.errors import BufferStateError, CepError, ConditionError, MalformedPatternError, StateLimitError
from cep.matcher import Matcher
from cep.pattern import Pattern, WithinType

__all__ = [
    "AfterMatchSkipStrategy",
    "BufferStateError",
    "CepError",
    "ConditionError",
    "MalformedPatternError",
    "Matcher",
    "Pattern",
    "StateLimitError",
    "WithinType",
    "conditions",
]
