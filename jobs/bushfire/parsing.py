"""Parse and validate sensor readings in the JVM, so Python only sees the rows it must.

Every line is parsed in the JVM, by default with one streaming parse in a Java UDF (`PARSE_READING`,
see `jobs.bushfire.parse_udf`), or, where no JDK can build it, with Flink's JSON functions
(``JSON_VALUE`` + ``TRY_CAST`` per field; never ``RETURNING DOUBLE``, which fails the whole job with a
ClassCastException on an integer temperature). A row whose required fields are missing or of the
wrong type gets a ``reason`` and goes, with its raw text, to Python. Valid rows that can never take
part in a match (the pattern's pre-filter, e.g. ``temperature >= 50``) are dropped in the JVM when
nothing else needs them.

The Python side gives the exact verdict and turns the remaining rows into plain ``dict`` readings
(`common.readings`; docs/simulator.md, "Event schema") or :class:`DeadLetter` records.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Optional, Union

import orjson

# The reading schema has one definition (common.readings), shared with the simulator that writes
# readings, so the job dead-letters exactly the records the ground truth ignores.
from common.readings import CHECK_ORDER, FIELDS, NOT_AN_OBJECT, REQUIRED, Kind, Presence
from common.readings import reading_problem as check_reading

# Output columns of the parse query, in order; the Python side reads rows by these positions.
PARSED_COLUMNS = ("line", "reason")
#: The fields the JVM reads and hands on (an optional field, `battery`, is checked but not carried).
READING_FIELDS = tuple(field.name for field in FIELDS if field.presence is not Presence.OPTIONAL)


class Reason(Enum):
    """Why a record went to the dead letters."""

    MALFORMED = "malformed"  # not a JSON object at all (or not UTF-8, or starting with a byte-order mark)
    INVALID = "invalid"  # JSON, but a required field is missing or has the wrong type
    LATE = "late"  # at or below the watermark when it reached the CEP operator
    ALERT_DELIVERY = "alert-delivery"  # an alert SNS still refused after retries
    INDEX_FAILURE = "index-failure"  # a raw reading OpenSearch still refused after retries
    OVERSIZED = "oversized"  # a line longer than MAX_LINE_BYTES (Kinesis's record limit)
    RULES = "rules"  # a --rules file (or rule update) refused as a whole; the running rules stay


#: The longest line taken as a reading, and the most of a raw payload a dead letter keeps: 1 MiB, the
#: largest record Kinesis accepts. A longer line becomes a dead letter holding its first 1 MiB, its
#: full length and its SHA-256 (so it can be matched with its source without storing it whole).
MAX_LINE_BYTES = 1 << 20
#: Lines of at most this many characters are certainly within MAX_LINE_BYTES (4 UTF-8 bytes a char).
_SURELY_SMALL_CHARS = MAX_LINE_BYTES // 4
#: What Java's and Python's UTF-8 decoders put where the input's bytes were not UTF-8.
REPLACEMENT_CHAR = "\ufffd"
BYTE_ORDER_MARK = "\ufeff"
#: Fields whose repetition in one line makes a reading ambiguous (JSON parsers keep the last or the first).
SCHEMA_FIELDS = tuple(field.name for field in CHECK_ORDER)


@dataclass(frozen=True)
class DeadLetter:
    """A record the job could not use, with its raw payload, so nothing is lost silently."""

    stage: str
    reason: Reason
    raw: str
    error: str
    seen_at: int  # processing time, epoch ms

    def to_json(self) -> str:
        """One JSON line; a raw payload over MAX_LINE_BYTES is cut there and gets ``raw_bytes`` (its
        full UTF-8 length) and ``raw_sha256``, with ``raw_truncated: true``."""
        data = asdict(self)
        data["reason"] = self.reason.value
        if len(self.raw) > _SURELY_SMALL_CHARS:
            encoded = self.raw.encode("utf-8", "surrogatepass")
            if len(encoded) > MAX_LINE_BYTES:
                data["raw"] = encoded[:MAX_LINE_BYTES].decode("utf-8", "ignore")  # no char cut in half
                data.update(
                    raw_truncated=True, raw_bytes=len(encoded), raw_sha256=hashlib.sha256(encoded).hexdigest()
                )
        return json.dumps(data, ensure_ascii=False, sort_keys=True)


def now_ms() -> int:
    """Processing time in epoch milliseconds (only for `seen_at`/`detected_at`, never for event time)."""
    return int(time.time() * 1000)


class JvmParser(Enum):
    """How the JVM reads a line's fields: one Java UDF parse, or Flink SQL's JSON functions per field."""

    JAVA = "java"  # PARSE_READING (jobs/bushfire/jvm/ParseReading.java): one parse per line
    SQL = "sql"  # JSON_VALUE + TRY_CAST per field: no JDK needed, about three times slower

    def fields(self, column: str = "line") -> dict[str, str]:
        """SQL expressions reading each required field of `column` (NULL when absent or invalid)."""
        if self is JvmParser.JAVA:
            return {field.name: f"{UDF_NAME}({column}).`{field.name}`" for field in REQUIRED}
        return {
            field.name: _json_value(column, field.name)
            if field.kind is Kind.TEXT
            else f"TRY_CAST({_json_value(column, field.name)} AS {field.kind.sql_type})"
            for field in REQUIRED
        }

    def infected_by(self, column: str = "line") -> str:
        """SQL reading `infectedBy` (NULL when null or absent: only rows with a NULL reason are trusted)."""
        if self is JvmParser.JAVA:
            return f"{UDF_NAME}({column}).`infectedBy`"
        return _json_value(column, "infectedBy")

    def event_time(self, column: str = "line") -> str:
        """The rowtime of a raw line: its `ts`, or epoch 0 for a line without one (a dead letter anyway)."""
        return f"TO_TIMESTAMP_LTZ(COALESCE({self.fields(column)['ts']}, 0), 3)"

    def reason(self, column: str = "line") -> str:
        """SQL for why `column` may not be a valid reading; NULL only when it certainly is one."""
        if self is JvmParser.JAVA:
            return f"{UDF_NAME}({column}).reason"
        return _sql_reason(column, self.fields(column))


#: Name of the Java function in SQL (registered by `jobs.bushfire.parse_udf`).
UDF_NAME = "PARSE_READING"


def _json_value(column: str, field: str) -> str:
    return f"JSON_VALUE({column}, '$.{field}')"


#: Spellings of a well-typed `infectedBy` (null or a string) in compact and spaced JSON. A line with
#: none of them is only suspect: Python decides exactly (other spacing costs speed, not correctness).
_INFECTED_BY_OK = ('"infectedBy":null', '"infectedBy":"', '"infectedBy": null', '"infectedBy": "')
_STRING_FIELDS = tuple(field.name for field in REQUIRED if field.kind is Kind.TEXT)
_NUMBER_FIELDS = tuple(field.name for field in REQUIRED if field.kind is not Kind.TEXT)


def _written_as(column: str, name: str, value_text: str) -> str:
    """SQL: `column` holds ``"name":<value_text>`` (compact or with one space), as the reading's field."""
    return " OR ".join(
        f"POSITION(CONCAT('\"{name}\"{colon}', {value_text}) IN {column}) > 0" for colon in (":", ": ")
    )


def _sql_reason(column: str, fields: dict[str, str]) -> str:
    """The SQL parser's checks. Lines that are long, not UTF-8, start with a BOM, hold unicode escapes,
    control characters or a schema field's name twice go to Python first. JSON_VALUE reads numbers and
    strings alike as text and ignores what follows the object, so a field passes only when the line
    shows it written with its type (``"node":"n1"``, ``"ts":1700000000000``), and a line with a
    second brace (a reading has no nested objects) or not ending in one is suspect. Anything unusual is
    flagged, never passed."""
    checks = " ".join(f"WHEN {sql} IS NULL THEN 'missing or invalid {name}'" for name, sql in fields.items())
    as_written = {name: f"CONCAT('\"', {_json_value(column, name)}, '\"')" for name in _STRING_FIELDS}
    as_written.update({name: _json_value(column, name) for name in _NUMBER_FIELDS})
    typed = " ".join(
        f"WHEN NOT ({_written_as(column, name, text)}) THEN 'invalid {name}'"
        for name, text in as_written.items()
    )
    battery_ok = " OR ".join(
        _written_as(column, "battery", text) for text in (_json_value(column, "battery"), "'null'")
    )
    infected_by_ok = " OR ".join(f"POSITION('{text}' IN {column}) > 0" for text in _INFECTED_BY_OK)
    duplicated = " OR ".join(
        f"POSITION('\"{name}\"' IN SUBSTRING({column} FROM POSITION('\"{name}\"' IN {column}) + 1)) > 0"
        for name in SCHEMA_FIELDS
    )
    return (
        f"CASE WHEN CHAR_LENGTH({column}) > {_SURELY_SMALL_CHARS} THEN 'maybe oversized' "
        f"WHEN POSITION('{REPLACEMENT_CHAR}' IN {column}) > 0 THEN 'not UTF-8' "
        f"WHEN POSITION('{BYTE_ORDER_MARK}' IN {column}) = 1 THEN 'byte-order mark' "
        f"WHEN POSITION('\\u' IN {column}) > 0 THEN 'unicode escape' "
        f"WHEN REGEXP({column}, '[\\x00-\\x08\\x0B\\x0C\\x0E-\\x1F]') THEN 'control character' "
        f"WHEN {duplicated} THEN 'a field may be duplicated' "
        f"WHEN {fields['event_id']} IS NULL AND NOT ({column} IS JSON OBJECT) "
        f"THEN '{Reason.MALFORMED.value}' "
        f"{checks} {typed} WHEN NOT ({infected_by_ok}) THEN 'missing or invalid infectedBy' "
        f"WHEN POSITION('\"battery\"' IN {column}) > 0 AND NOT ({battery_ok}) THEN 'invalid battery' "
        f"WHEN POSITION('{{' IN SUBSTRING({column} FROM POSITION('{{' IN {column}) + 1)) > 0 "
        "THEN 'nested object or text after the object' "
        f"WHEN NOT (RTRIM({column}) LIKE '%}}') OR RTRIM({column}) LIKE '%}}}}' THEN 'text after the object' "
        "ELSE CAST(NULL AS STRING) END"
    )


def parse_query(source: str, hot_filter_sql: Optional[str], parser: JvmParser = JvmParser.JAVA) -> str:
    """The one query that checks every line once and keeps the rows Python must see.

    Every required field is read (parsed, type-cast) in the JVM. A row that fails a check gets a
    ``reason`` and always crosses into Python, which gives the exact verdict (see reading_problem);
    the JVM checks may flag a valid row (then Python keeps it) but pass no invalid row that Python would
    need to see. Kept are the flagged rows and the unflagged rows passing `hot_filter_sql` (the
    pattern's pre-filter, over the field columns), or every row when it is None (the raw-event path
    needs them all). Output columns: ``line``, ``reason``, ``rt`` (the rowtime) and the typed reading
    fields `READING_FIELDS` (``region`` to key by; any field may be NULL or wrong when ``reason`` is
    not NULL).
    """
    fields = parser.fields("line")
    columns = ", ".join(f"{expr} AS `{name}`" for name, expr in fields.items())
    if parser is JvmParser.SQL:
        # The raw format keeps a line's bytes as they came; string functions that count characters
        # over bytes that are not UTF-8 (SUBSTRING) fail the whole job. Decoded once, bad bytes are U+FFFD.
        source = f"(SELECT DECODE(ENCODE(line, 'UTF-8'), 'UTF-8') AS line, rt FROM {source})"
    infected_by = f"{parser.infected_by('line')} AS `infectedBy`"
    checked = f"SELECT line, rt, {parser.reason('line')} AS reason, {columns}, {infected_by} FROM {source}"
    typed = ", ".join(f"`{name}`" for name in READING_FIELDS)
    query = f"SELECT line, reason, rt, {typed} FROM ({checked})"
    if hot_filter_sql is None:
        return query
    return f"{query} WHERE reason IS NOT NULL OR ({hot_filter_sql})"


def parse_line(line: Optional[str], stage: str) -> Union[dict, DeadLetter]:
    """A raw line as a reading ``dict``, or a :class:`DeadLetter` that keeps the line and the reason.

    Any text gives one of the two, never an exception: a line too long, not UTF-8 (its bad bytes read as
    U+FFFD), starting with a byte-order mark, not JSON (NaN, Infinity, numbers beyond a double, NUL and
    other control characters in strings), or JSON that is no valid reading (nested values, a schema
    field given twice) is a dead letter. A trailing CR (CRLF line ends) is JSON whitespace: no problem.
    """
    text = line or ""
    problem = _text_problem(text)
    if problem is not None:
        reason = Reason.OVERSIZED if problem.startswith("longer") else Reason.MALFORMED
        return DeadLetter(stage=stage, reason=reason, raw=text, error=problem, seen_at=now_ms())
    try:
        record = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return DeadLetter(stage=stage, reason=Reason.MALFORMED, raw=text, error=str(exc), seen_at=now_ms())
    problem = check_reading(record)
    if problem is None:
        problem = _duplicate_field(text, record)
    if problem is not None:
        reason = Reason.MALFORMED if problem == NOT_AN_OBJECT else Reason.INVALID
        return DeadLetter(stage=stage, reason=reason, raw=text, error=problem, seen_at=now_ms())
    return record


def _text_problem(text: str) -> Optional[str]:
    """What makes `text` unusable before it is parsed, or None."""
    if len(text) > _SURELY_SMALL_CHARS and len(text.encode("utf-8", "surrogatepass")) > MAX_LINE_BYTES:
        return f"longer than {MAX_LINE_BYTES} bytes (the largest Kinesis record)"
    if REPLACEMENT_CHAR in text:
        return "not valid UTF-8 (bytes that are not UTF-8 read as U+FFFD)"
    if text.startswith(BYTE_ORDER_MARK):
        return "starts with a byte-order mark (U+FEFF); write the file as UTF-8 without BOM"
    return None


def _duplicate_field(text: str, reading: dict) -> Optional[str]:
    """'duplicate field <name>' when a schema field appears twice in the line's object, else None.

    Cheap for the usual line: a valid reading's keys and string values each show two quote marks in
    the text, so a line with no more quote marks than that has no key twice. Only other lines (a
    duplicate, escaped quotes, nested values in unknown fields) pay for the exact check.
    """
    strings = 3 + isinstance(reading["infectedBy"], str)  # event_id, node, region (+ infectedBy)
    if text.count('"') == 2 * (len(reading) + strings):
        return None
    duplicates: list[str] = []

    def check(pairs: list) -> dict:  # called per object, the whole line's last
        names = [name for name, _ in pairs]
        duplicates[:] = [name for name in SCHEMA_FIELDS if names.count(name) > 1]
        return dict(pairs)

    json.loads(text, object_pairs_hook=check)  # orjson accepted it, so json does too
    return f"duplicate field {duplicates[0]}" if duplicates else None
