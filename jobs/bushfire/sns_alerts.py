"""Publish bushfire alerts to an Amazon SNS topic, one readable message per alerted path.

The job's alert operator calls `AlertPublisher.publish` (or `publish_batch`) for each alert and routes
every result that is not ok to the dead-letter output: delivery failures are values, never exceptions,
so one bad alert or an SNS outage cannot crash the running job.

Message format (``MessageStructure=json``, so each protocol gets the variant that suits it):

- ``default`` and ``email``: the readable text (region, severity, the path ``N1 → … → N5``, first and
  last reading in UTC ISO 8601, each reading's temperature and location), then a line
  ``-- alert JSON --`` and the alert as JSON, so a person can read it and a tool can still parse it.
- ``sqs`` and ``lambda``: the alert JSON alone (docs/job.md, Outputs) plus ``severity``, ``subject`` and
  ``text``, so machine subscribers never parse prose.
- Subject: ``Bushfire alert [SEVERITY] region R: N1 -> ... -> N5`` (≤ 100 characters, SNS's limit).
- Message attributes (for subscription filter policies): ``region``, ``severity``, ``alert_id``,
  ``rule_id`` (with ``--rules``) (String), ``path_length`` and ``max_temperature`` (Number).
- FIFO topics (ARN ending in ``.fifo``): ``MessageGroupId`` = region (alerts of one region stay in
  order), ``MessageDeduplicationId`` = the alert id, so a re-sent alert (after a job restart) is
  delivered once within SNS's 5-minute deduplication window.

Retries: botocore's retry modes handle throttling, 5xx and connection errors with exponential backoff
(``adaptive`` by default: it also rate-limits the client when SNS throttles). Nothing here sleeps.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from common.aws import build_client
from jobs.bushfire.alert_format import (
    JSON_MARKER,
    Severity,
    alert_json,
    format_subject,
    format_text,
    max_temperature,
    safe_sns_id,
    severity_of,
)

if TYPE_CHECKING:  # stubs are a dev-only dependency
    from mypy_boto3_sns import SNSClient

__all__ = [
    "DEFAULT_TOTAL_MAX_ATTEMPTS",
    "DEFAULT_RETRY_MODE",
    "PUBLISH_BATCH_MAX_BYTES",
    "PUBLISH_BATCH_MAX_ENTRIES",
    "AlertPublisher",
    "PublishResult",
]

logger = logging.getLogger(__name__)

#: SNS PublishBatch takes at most 10 entries per call...
PUBLISH_BATCH_MAX_ENTRIES = 10
#: ... and at most 256 KiB of messages and attributes per call, all entries together.
PUBLISH_BATCH_MAX_BYTES = 256 * 1024
#: botocore retry mode: ``adaptive`` adds client-side rate limiting on throttling to ``standard``.
DEFAULT_RETRY_MODE = "adaptive"
#: Attempts per call (first try included) before a failure is returned to the caller.
DEFAULT_TOTAL_MAX_ATTEMPTS = 5
#: Keep a hung endpoint from stalling the alert operator for long.
DEFAULT_CONNECT_TIMEOUT_S = 5
DEFAULT_READ_TIMEOUT_S = 10

_THROTTLING_CODES = frozenset({"Throttling", "ThrottlingException", "ThrottledException", "TooManyRequests"})


@dataclass(frozen=True)
class PublishResult:
    """What happened to one alert.

    Attributes
    ----------
    alert_id : the alert's id (empty if the alert had none).
    ok : True when SNS accepted the message.
    message_id : SNS MessageId when ok.
    reason : why it failed (SNS error message, connection error, malformed alert), when not ok.
    error_code : SNS error code (``NotFound``, ``InvalidParameter``, ``Throttling`` ...), or
        ``MalformedAlert`` / ``ConnectionError`` for failures before or outside SNS.
    retryable : True when sending the same alert later may succeed (throttling, 5xx, network).
    """

    alert_id: str
    ok: bool
    message_id: str | None = None
    reason: str | None = None
    error_code: str | None = None
    retryable: bool = False

    @classmethod
    def delivered(cls, alert_id: str, message_id: str) -> PublishResult:
        return cls(alert_id=alert_id, ok=True, message_id=message_id)

    @classmethod
    def failed(cls, alert_id: str, reason: str, error_code: str, retryable: bool) -> PublishResult:
        return cls(alert_id=alert_id, ok=False, reason=reason, error_code=error_code, retryable=retryable)


def default_client_config() -> Config:
    """The botocore Config every sink client starts from: retry mode, attempts and timeouts."""
    return Config(
        retries={"mode": DEFAULT_RETRY_MODE, "total_max_attempts": DEFAULT_TOTAL_MAX_ATTEMPTS},
        connect_timeout=DEFAULT_CONNECT_TIMEOUT_S,
        read_timeout=DEFAULT_READ_TIMEOUT_S,
    )


def build_sns_client(
    boto3_client: SNSClient | None = None,
    boto3_session: boto3.session.Session | None = None,
    config: Config | None = None,
    endpoint_url: str | None = None,
) -> SNSClient:
    """Use the given client, or build one from the session (or a new one) with our retry defaults.

    A caller's `config` is merged over the defaults, so it can change the retry mode or attempts
    without losing the timeouts.
    """
    merged = default_client_config().merge(config) if config is not None else default_client_config()
    return build_client(
        "sns", boto3_client=boto3_client, boto3_session=boto3_session, config=merged,
        endpoint_url=endpoint_url,
    )


class AlertPublisher:
    """Publishes alerts to one SNS topic (standard or FIFO).

    Parameters
    ----------
    topic_arn : the topic; an ARN ending in ``.fifo`` turns on group and deduplication ids.
    boto3_client, boto3_session, config : the usual trio; a given client is used as is.
    endpoint_url : e.g. a local moto server in tests.

    Example
    -------
    >>> publisher = AlertPublisher("arn:aws:sns:ap-southeast-2:123456789012:bushfire-alerts")
    >>> result = publisher.publish(alert)          # doctest: +SKIP
    >>> if not result.ok: dead_letters.append((alert, result.reason))   # doctest: +SKIP
    """

    def __init__(
        self,
        topic_arn: str,
        boto3_client: SNSClient | None = None,
        boto3_session: boto3.session.Session | None = None,
        config: Config | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        self.topic_arn = topic_arn
        self.fifo = topic_arn.endswith(".fifo")
        self.client = build_sns_client(boto3_client, boto3_session, config, endpoint_url)

    # -- message --------------------------------------------------------------------------------

    def message_fields(self, alert: Mapping[str, Any]) -> dict[str, Any]:
        """The Publish / PublishBatch-entry fields for one alert (no TopicArn, no batch Id).

        Raises KeyError / TypeError / ValueError when the alert lacks the §5 fields.
        """
        severity = severity_of(alert)
        subject = format_subject(alert, severity)
        text = format_text(alert, severity)
        as_json = alert_json(alert)
        structured = {
            "default": f"{text}\n\n{JSON_MARKER}\n{as_json}",
            "sqs": alert_json(alert, severity=severity.value, subject=subject, text=text),
        }
        structured["email"] = structured["default"]
        structured["lambda"] = structured["sqs"]
        fields: dict[str, Any] = {
            "Subject": subject,
            "Message": json.dumps(structured, ensure_ascii=False),
            "MessageStructure": "json",
            "MessageAttributes": self._attributes(alert, severity),
        }
        if self.fifo:
            fields["MessageGroupId"] = safe_sns_id(str(alert["region"]))
            fields["MessageDeduplicationId"] = safe_sns_id(str(alert["alert_id"]))
        return fields

    @staticmethod
    def _attributes(alert: Mapping[str, Any], severity: Severity) -> dict[str, dict[str, str]]:
        attributes = {
            "region": {"DataType": "String", "StringValue": str(alert["region"])},
            "severity": {"DataType": "String", "StringValue": severity.value},
            "path_length": {"DataType": "Number", "StringValue": str(len(alert["path"]))},
        }
        if alert.get("rule_id"):
            attributes["rule_id"] = {"DataType": "String", "StringValue": str(alert["rule_id"])}
        if alert.get("alert_id"):
            attributes["alert_id"] = {"DataType": "String", "StringValue": str(alert["alert_id"])}
        hottest = max_temperature(alert)
        if hottest is not None:
            attributes["max_temperature"] = {"DataType": "Number", "StringValue": repr(hottest)}
        return attributes

    # -- publishing -----------------------------------------------------------------------------

    def publish(self, alert: Mapping[str, Any]) -> PublishResult:
        """Publish one alert; never raises for a malformed alert or a delivery failure."""
        alert_id = _alert_id(alert)
        try:
            fields = self.message_fields(alert)
        except (KeyError, TypeError, ValueError) as exc:
            return self._report_failure(_malformed(alert_id, exc))
        try:
            response = self.client.publish(TopicArn=self.topic_arn, **fields)
        except (ClientError, BotoCoreError) as exc:
            return self._report_failure(_from_exception(alert_id, exc))
        return PublishResult.delivered(alert_id, response["MessageId"])

    def publish_batch(self, alerts: Iterable[Mapping[str, Any]]) -> list[PublishResult]:
        """Publish alerts with PublishBatch, up to `PUBLISH_BATCH_MAX_ENTRIES` and
        `PUBLISH_BATCH_MAX_BYTES` per call (an alert bigger than that goes alone and SNS refuses it).

        Returns one result per alert, in input order, reading SNS's per-entry ``Failed`` list (a
        call can partly succeed); a failed call fails each of its entries with the call's reason.
        """
        alerts = list(alerts)
        results: list[PublishResult | None] = [None] * len(alerts)
        sendable: list[tuple[int, dict[str, Any]]] = []
        for position, alert in enumerate(alerts):
            try:
                sendable.append((position, self.message_fields(alert)))
            except (KeyError, TypeError, ValueError) as exc:
                results[position] = self._report_failure(_malformed(_alert_id(alert), exc))
        for chunk in _batches(sendable):
            for position, result in self._publish_chunk(alerts, chunk):
                results[position] = result
        return [result for result in results if result is not None]

    def _publish_chunk(
        self, alerts: Sequence[Mapping[str, Any]], chunk: Sequence[tuple[int, dict[str, Any]]]
    ) -> list[tuple[int, PublishResult]]:
        entries = [{"Id": f"alert-{position}", **fields} for position, fields in chunk]
        positions = {entry["Id"]: position for entry, (position, _) in zip(entries, chunk)}
        try:
            response = self.client.publish_batch(TopicArn=self.topic_arn, PublishBatchRequestEntries=entries)
        except (ClientError, BotoCoreError) as exc:
            return [(p, self._report_failure(_from_exception(_alert_id(alerts[p]), exc))) for p, _ in chunk]
        out: list[tuple[int, PublishResult]] = []
        for entry in response.get("Successful", []):
            position = positions.pop(entry["Id"])
            out.append((position, PublishResult.delivered(_alert_id(alerts[position]), entry["MessageId"])))
        for entry in response.get("Failed", []):
            position = positions.pop(entry["Id"])
            result = PublishResult.failed(
                _alert_id(alerts[position]),
                reason=entry.get("Message") or entry.get("Code", "failed"),
                error_code=entry.get("Code", "Unknown"),
                retryable=not entry.get("SenderFault", False),
            )
            out.append((position, self._report_failure(result)))
        for position in positions.values():  # SNS answered for neither: do not assume success
            result = PublishResult.failed(
                _alert_id(alerts[position]),
                "no result for this entry in the PublishBatch response",
                "MissingResult",
                retryable=True,
            )
            out.append((position, self._report_failure(result)))
        return out

    def _report_failure(self, result: PublishResult) -> PublishResult:
        logger.warning(
            "SNS alert %s not published to %s: %s (%s)",
            result.alert_id,
            self.topic_arn,
            result.reason,
            result.error_code,
        )
        return result


def _batches(entries: list[tuple[int, dict[str, Any]]]) -> Iterator[list[tuple[int, dict[str, Any]]]]:
    """Group entries so no PublishBatch call exceeds the entry or the byte limit."""
    batch: list[tuple[int, dict[str, Any]]] = []
    batch_bytes = 0
    for entry in entries:
        size = _entry_bytes(entry[1])
        if batch and (
            len(batch) == PUBLISH_BATCH_MAX_ENTRIES or batch_bytes + size > PUBLISH_BATCH_MAX_BYTES
        ):
            yield batch
            batch, batch_bytes = [], 0
        batch.append(entry)
        batch_bytes += size
    if batch:
        yield batch


def _entry_bytes(fields: Mapping[str, Any]) -> int:
    """What SNS counts against the size limit: the message and each attribute's name, type and value."""
    size = len(fields["Message"].encode("utf-8"))
    for name, value in fields.get("MessageAttributes", {}).items():
        size += len(name.encode()) + len(value["DataType"].encode()) + len(value["StringValue"].encode())
    return size


def _alert_id(alert: Any) -> str:
    try:
        return str(alert.get("alert_id") or "")
    except AttributeError:
        return ""


def _malformed(alert_id: str, exc: Exception) -> PublishResult:
    reason = f"malformed alert ({type(exc).__name__}: {exc}); expected an alert record (docs/job.md)"
    return PublishResult.failed(alert_id, reason, "MalformedAlert", retryable=False)


def _from_exception(alert_id: str, exc: Exception) -> PublishResult:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "Unknown")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        retryable = code in _THROTTLING_CODES or status >= 500
        return PublishResult.failed(alert_id, error.get("Message") or str(exc), code, retryable)
    if isinstance(exc, ParamValidationError):
        return PublishResult.failed(alert_id, str(exc), "ParamValidation", retryable=False)
    return PublishResult.failed(alert_id, str(exc), "ConnectionError", retryable=True)
