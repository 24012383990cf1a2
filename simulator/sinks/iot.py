"""AWS IoT Core sink: publish each record to an MQTT topic through the `iot-data` API, as the
original system's simulator did (an IoT rule then forwards the messages to Kinesis)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from common.aws import build_client
from simulator.events import Record, encode
from simulator.sinks.base import Sink, SinkError

if TYPE_CHECKING:
    import boto3
    from botocore.config import Config

logger = logging.getLogger(__name__)

DEFAULT_TOPIC = "emberwatch/sensors/{region}/{node}"
MALFORMED_TOPIC_PART = "malformed"


class IotSink(Sink):
    """Publish records to `topic`; `{region}` and `{node}` in it are filled from each reading.

    Without a client or `endpoint_url`, the account's data endpoint is looked up with
    `iot.describe_endpoint(endpointType="iot:Data-ATS")`. Throttling and 5xx errors are retried by
    botocore's standard retry mode; anything else raises `SinkError`.
    """

    def __init__(
        self,
        topic: str = DEFAULT_TOPIC,
        *,
        qos: int = 1,
        boto3_client: Any = None,
        boto3_session: boto3.session.Session | None = None,
        config: Config | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        super().__init__()
        self.topic = topic
        self.qos = qos
        if boto3_client is None and endpoint_url is None:
            iot = build_client("iot", boto3_session=boto3_session, config=config)
            address = iot.describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"]
            endpoint_url = f"https://{address}"
        self.client = build_client(
            "iot-data", boto3_client=boto3_client, boto3_session=boto3_session, config=config,
            endpoint_url=endpoint_url,
        )

    def topic_for(self, record: Record) -> str:
        """The topic a record goes to (placeholders filled; malformed records use 'malformed')."""
        if isinstance(record, dict) and isinstance(record.get("region"), str) and isinstance(
            record.get("node"), str
        ):
            return self.topic.format(region=record["region"], node=record["node"])
        return self.topic.format(region=MALFORMED_TOPIC_PART, node=MALFORMED_TOPIC_PART)

    def write(self, records: Sequence[Record]) -> None:
        for record in records:
            payload = encode(record)
            topic = self.topic_for(record)
            try:
                self.client.publish(topic=topic, qos=self.qos, payload=payload)
            except (ClientError, BotoCoreError) as exc:
                raise SinkError(f"IoT publish to {topic!r} failed: {exc}") from exc
            self.stats.records += 1
            self.stats.bytes += len(payload)
            self.stats.calls += 1
