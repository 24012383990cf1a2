"""Fixtures for the sink tests: a fresh OpenSearch fake per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.opensearch_fake import OpenSearchFake


@pytest.fixture()
def opensearch_fake() -> Iterator[OpenSearchFake]:
    with OpenSearchFake() as fake:
        yield fake
