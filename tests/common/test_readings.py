"""The reading schema table, and every other place that knows the fields, held to it.

`common.readings.FIELDS` is the one definition. The Python check and the SQL parser's field list are
built from it; the Java parser (jobs/bushfire/jvm/ParseReading.java) and the OpenSearch template are
read here and compared with it, so adding or retyping a field fails a test until all of them agree.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from common.readings import (
    FIELDS,
    REQUIRED,
    Kind,
    Presence,
    is_valid_reading,
    opensearch_properties,
    reading_problem,
)
from jobs.bushfire.opensearch_sink import RawEventIndexer
from jobs.bushfire.parsing import READING_FIELDS, JvmParser

JAVA_SOURCE = Path(__file__).resolve().parents[2] / "jobs" / "bushfire" / "jvm" / "ParseReading.java"

GOOD = {
    "event_id": "r1-n1:1",
    "node": "r1-n1",
    "region": "r1",
    "ts": 1_700_000_000_000,
    "temperature": 20.5,
    "infectedBy": "r1-n0",
    "lat": -33.7,
    "lon": 150.3,
    "battery": 97.0,
}
#: A value of each kind, and values that are not of it.
OF_KIND = {Kind.TEXT: "x", Kind.EPOCH_MS: 1_700_000_000_000, Kind.NUMBER: 61.5}
NOT_OF_KIND = {
    Kind.TEXT: [42, 1.5, True, ["x"], {"a": "x"}],
    Kind.EPOCH_MS: ["1700000000000", 1.7e12, True, [1]],
    Kind.NUMBER: ["61.5", True, False, [61.5], {"v": 1}],
}


def _without(name: str) -> dict:
    return {k: v for k, v in GOOD.items() if k != name}


def test_the_table_holds_the_readings_fields_once() -> None:
    names = [field.name for field in FIELDS]
    assert len(names) == len(set(names))
    assert set(GOOD) == set(names)
    assert is_valid_reading(GOOD)


@pytest.mark.parametrize("field", FIELDS, ids=lambda f: f.name)
def test_each_field_is_checked_by_its_kind_and_presence(field) -> None:
    assert reading_problem({**GOOD, field.name: OF_KIND[field.kind]}) is None
    if field.kind is Kind.NUMBER:
        assert reading_problem({**GOOD, field.name: 7}) is None  # an integer is a number
    required = field.presence is Presence.REQUIRED
    for bad in NOT_OF_KIND[field.kind]:
        expected = f"missing or invalid {field.name}" if required else f"invalid {field.name}"
        assert reading_problem({**GOOD, field.name: bad}) == expected, bad
    absent, null = reading_problem(_without(field.name)), reading_problem({**GOOD, field.name: None})
    if field.presence is Presence.REQUIRED:
        assert absent == null == f"missing or invalid {field.name}"
    elif field.presence is Presence.NULLABLE:
        assert (absent, null) == (f"missing {field.name}", None)
    else:
        assert absent is null is None


def test_the_first_problem_is_named_required_fields_first() -> None:
    record = {k: v for k, v in GOOD.items() if k not in ("infectedBy", "lon")}
    assert reading_problem(record) == "missing or invalid lon"
    assert reading_problem({**record, "lon": 1.0, "battery": "x"}) == "missing infectedBy"
    assert reading_problem([GOOD]) == "not a JSON object"
    assert reading_problem({**GOOD, "extra": {"nested": True}}) is None  # unknown fields are allowed


def _java_row_type() -> list[tuple[str, str]]:
    source = JAVA_SOURCE.read_text(encoding="utf-8")
    declaration = re.search(r"ROW_TYPE\s*=\s*(.*?);", source, re.S)
    assert declaration, "ROW_TYPE not found in ParseReading.java"
    text = "".join(re.findall(r'"([^"]*)"', declaration.group(1)))
    inner = re.fullmatch(r"ROW<(.*)>", text.strip())
    assert inner, text
    return [tuple(column.split()) for column in inner.group(1).split(",")]


def test_the_java_parser_returns_the_tables_fields_with_their_sql_types() -> None:
    expected = [(f.name, f.kind.sql_type) for f in FIELDS if f.presence is not Presence.OPTIONAL]
    assert _java_row_type() == [*expected, ("reason", "STRING")]
    assert [name for name, _ in expected] == list(READING_FIELDS)


def test_the_java_parser_reads_every_field_and_checks_them_in_the_pythons_order() -> None:
    source = JAVA_SOURCE.read_text(encoding="utf-8")
    read = set(re.findall(r'case "(\w+)":', source))
    assert read == {field.name for field in FIELDS}
    check = source[source.index("void checkRequired") :]
    flagged = re.findall(r'flag\("missing (?:or invalid )?(\w+)"\)', check)
    nullable = [f.name for f in FIELDS if f.presence is Presence.NULLABLE]
    assert flagged == [f.name for f in REQUIRED] + nullable


def test_the_sql_parser_reads_the_required_fields_with_their_types() -> None:
    fields = JvmParser.SQL.fields("line")
    assert list(fields) == [f.name for f in REQUIRED]
    for field in REQUIRED:
        sql = fields[field.name]
        assert f"'$.{field.name}'" in sql
        assert (f"AS {field.kind.sql_type})" in sql) == (field.kind is not Kind.TEXT), sql
    reason = JvmParser.SQL.reason("line")
    for field in FIELDS:  # the fields that are not required have checks of their own
        assert f'"{field.name}"' in reason, field.name


def test_the_opensearch_template_maps_every_field_by_its_kind() -> None:
    properties = RawEventIndexer(client=None).template_body()["template"]["mappings"]["properties"]
    assert properties == {**opensearch_properties(), "location": {"type": "geo_point"}}
    assert properties["ts"] == {"type": "date", "format": "epoch_millis"}
    kinds = {Kind.TEXT: "keyword", Kind.EPOCH_MS: "date", Kind.NUMBER: "float"}
    assert {name: spec["type"] for name, spec in opensearch_properties().items()} == {
        f.name: kinds[f.kind] for f in FIELDS
    }
