"""Severity rule and SNS id rules of the alert wording (pure functions, no network)."""

from __future__ import annotations

import pytest

from jobs.bushfire.alert_format import Severity, iso_utc, safe_sns_id, severity_of
from tests.jobs.sinks.alerts_data import make_alert


@pytest.mark.parametrize(
    ("nodes", "hottest", "expected"),
    [
        (5, 50.0, Severity.WARNING),
        (5, 69.9, Severity.WARNING),
        (5, 70.0, Severity.HIGH),
        (6, 55.0, Severity.HIGH),
        (5, 90.0, Severity.CRITICAL),
        (8, 55.0, Severity.CRITICAL),
    ],
)
def test_severity_follows_hottest_reading_and_path_length(nodes, hottest, expected):
    assert severity_of(make_alert(nodes=nodes, hottest=hottest)) is expected


def test_severity_of_an_alert_without_readings_uses_path_length():
    alert = make_alert(nodes=6)
    alert["readings"] = []
    assert severity_of(alert) is Severity.HIGH


def test_sns_ids_are_kept_when_valid_and_hashed_deterministically_otherwise():
    assert safe_sns_id("r007:r007-n001>r007-n002") == "r007:r007-n001>r007-n002"
    spaced = safe_sns_id("region with spaces")
    assert spaced == safe_sns_id("region with spaces") and len(spaced) == 64
    assert len(safe_sns_id("x" * 200)) == 64
    assert safe_sns_id("é") != "é"


def test_iso_utc_has_milliseconds_and_z():
    assert iso_utc(0) == "1970-01-01T00:00:00.000Z"
    assert iso_utc(1_790_000_000_123) == "2026-09-21T14:13:20.123Z"
