"""IotSink against moto's iot-data (publish over real HTTP; moto keeps what was published)."""

from __future__ import annotations

import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.iotdata.models import iotdata_backends

from simulator import SimulationConfig, encode, simulate
from simulator.sinks import IotSink


@pytest.fixture()
def published(moto_inprocess):
    backend = iotdata_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    backend.published_payloads.clear()
    return backend.published_payloads


def test_publishes_each_record_to_its_topic(moto_inprocess, published):
    records = list(simulate(SimulationConfig.preset("blog-11")).events())[:20] + [b'{"node": "1", "ts"']
    with IotSink("emberwatch/{region}/{node}", endpoint_url=moto_inprocess) as sink:
        sink.write(records)
    expected = [(f"emberwatch/{r['region']}/{r['node']}", encode(r)) for r in records[:-1]]
    expected.append(("emberwatch/malformed/malformed", records[-1]))
    assert published == expected
    assert sink.stats.records == 21


def test_fixed_topic(moto_inprocess, published):
    with IotSink("sensors/readings", endpoint_url=moto_inprocess) as sink:
        sink.write([{"node": "a", "region": "r", "ts": 1}])
    assert published == [("sensors/readings", b'{"node":"a","region":"r","ts":1}')]
