"""Hand Python only the events that can matter: read, parse and pre-filter in the JVM, then key.

Every record that crosses from the JVM into a Python operator costs ~60–80 µs, while the JVM handles a
record in a few µs. A table (e.g. a `filesystem` source with ``'format' = 'json'`` and a
``WATERMARK FOR`` clause) parses events and computes event time and watermarks in the JVM; when every
stage of the pattern requires a declarative predicate, `cep.analysis.prefilter` derives a condition
that every event able to change the matcher's state satisfies, and its SQL form becomes a ``WHERE``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Optional

from pyflink.common.typeinfo import TypeInformation, Types
from pyflink.datastream import DataStream, KeyedStream
from pyflink.datastream.functions import KeySelector, MapFunction
from pyflink.java_gateway import get_gateway
from pyflink.table import StreamTableEnvironment, Table
from pyflink.table.expressions import call_sql

log = logging.getLogger(__name__)


def keyed_events(
    table_env: StreamTableEnvironment,
    table: Table,
    key_column: str,
    rowtime_column: str,
    pattern: Any = None,
    *,
    prefilter: bool = True,
    key_type: Optional[TypeInformation] = None,
) -> KeyedStream:
    """Rows of `table` as dicts (column -> value), keyed by `key_column`, ready for `CEP.pattern`.

    Parameters
    ----------
    table_env:
        The table environment `table` belongs to.
    table:
        Has a rowtime attribute with a watermark (``WATERMARK FOR rt AS rt - INTERVAL ...`` in its
        DDL): it becomes each record's event time, and the watermark is computed in the JVM from every
        row, filtered or not.
    key_column:
        The column to key by (e.g. ``region``).
    rowtime_column:
        The rowtime attribute. It is left out of the event dicts (its Java timestamp objects cost to
        convert and, in thread mode, cannot be pickled); keep an epoch-ms column for the events.
    pattern:
        The pattern that will run on the stream; with `prefilter`, its pre-filter (if it has one)
        runs in the JVM as a SQL ``WHERE``.
    prefilter:
        Drop in the JVM the events that can never change the matcher's state. Safe exactly when
        `cep.analysis.prefilter(pattern)` returns a condition (no strict contiguity, negation or
        `until`, and every stage has a declarative necessary condition): the matches are the same.
        What changes: filtered events are not counted as events in or late events by the adapter.
    key_type:
        Flink type of the key (e.g. ``Types.STRING()``); default: pickled.

    Example
    -------
    >>> keyed = keyed_events(t_env, t_env.from_path("readings"), "region", "rt", pattern)
    >>> alerts = CEP.pattern(keyed, pattern).select(to_alert)
    """
    if prefilter and pattern is not None:
        from cep.analysis import prefilter as derive_prefilter

        condition = derive_prefilter(pattern)
        if condition is None:
            log.info("no pre-filter for this pattern: every event goes to Python")
        else:
            sql = condition.to_sql()
            log.info("pre-filter pushed into the JVM: WHERE %s", sql)
            table = table.where(call_sql(sql))
    events = table_env.to_data_stream(table).map(RowToEvent(rowtime_column))
    return events.key_by(FieldKey(key_column), key_type)


class RowToEvent(MapFunction):
    """A table row as an event dict (column -> value), without the rowtime column."""

    def __init__(self, rowtime_column: str) -> None:
        self._rowtime_column = rowtime_column

    def map(self, row: Any) -> dict:
        event = row.as_dict()
        del event[self._rowtime_column]
        return event


class FieldKey(KeySelector):
    """Keys an event dict by one of its fields."""

    def __init__(self, name: str) -> None:
        self._name = name

    def get_key(self, event: dict) -> Any:
        return event[self._name]


def rows_keyed_in_jvm(
    table_env: StreamTableEnvironment,
    table: Table,
    key: str,
    columns: Sequence[str],
    rowtime_column: str,
    column_types: Sequence[TypeInformation],
    key_type: Optional[TypeInformation] = None,
) -> KeyedStream:
    """Rows of `table` (its `columns`, as a `Row`) keyed by the SQL expression `key`, in the JVM.

    `DataStream.key_by` runs its key selector in a Python operator, so every row would cross into
    Python once before the shuffle and again after it; in the source's task that operator also makes
    the source wait at every watermark for Python. Here the key is a column computed by Flink SQL and
    the shuffle happens in the JVM, so the first Python code to see a row is the keyed function.

    `rowtime_column` (a rowtime attribute with a watermark) becomes each record's timestamp; the rows
    carry only `columns`, whose Flink types `column_types` gives in order. A NULL `key` is keyed as
    the empty string.
    """
    key_type = key_type or Types.STRING()
    value_type = Types.ROW_NAMED(list(columns), list(column_types))
    selected = ", ".join(f"`{name}`" for name in columns)
    keyed_rows = table_env.sql_query(
        f"SELECT COALESCE({key}, '') AS k, ROW({selected}) AS v, `{rowtime_column}` FROM {table}"
    )
    j_stream = table_env._j_tenv.toDataStream(keyed_rows._j_table)
    # Rows of (key, value, rowtime) for PyFlink's keyed operators, which read fields 0 and 1 only.
    row_type = Types.ROW_NAMED(["k", "v", "rt"], [key_type, value_type, Types.INSTANT()])
    j_stream.getTransformation().setOutputType(row_type.get_java_type_info())
    j_keyed = j_stream.keyBy(get_gateway().jvm.KeyByKeySelector(), Types.ROW([key_type]).get_java_type_info())
    return KeyedStream(j_keyed, value_type, DataStream(j_stream))
