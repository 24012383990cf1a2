"""Index raw sensor readings into OpenSearch for the heat-map dashboard.

Every reading becomes one document whose id is its ``event_id``, so replays and job restarts overwrite
instead of duplicating (the sink is idempotent). Documents go to one index per UTC day,
``<prefix>-YYYY.MM.DD`` from the reading's ``ts`` (old days can be dropped whole by an ISM policy),
or to one fixed index when ``daily_indices=False``. An index template gives them typed fields:
``node``, ``region``, ``infectedBy``, ``event_id`` keyword; ``ts`` date (epoch_millis); ``temperature``
and ``battery`` float; ``location`` geo_point built from ``lat``/``lon``.

Retries, in three layers, all with library code where it exists:
- the transport (opensearch-py ``Transport``) re-sends a request answered 502/503/504 or cut by a
  connection error, immediately, up to `TRANSPORT_MAX_RETRIES` times;
- ``helpers.streaming_bulk`` re-sends documents rejected with 429 (the whole request or single items),
  with exponential backoff from `initial_backoff_s` up to `max_backoff_s`, up to `max_retries` times;
- streaming_bulk does not retry 5xx items, and the transport does not back off, so documents that
  still failed with a 5xx (or a connection error) are sent again in up to `server_error_rounds` more
  rounds, sleeping with the same exponential backoff between rounds.
Anything else (a 400 mapping error, a 409) is a per-document failure returned at once, never retried.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from opensearchpy import AWSV4SignerAuth, OpenSearch, RequestsHttpConnection
from opensearchpy.exceptions import SerializationError
from opensearchpy.helpers import streaming_bulk

from common.readings import opensearch_properties

__all__ = [
    "BULK_MAX_BYTES",
    "BULK_MAX_DOCS",
    "DEFAULT_INDEX_PREFIX",
    "DocumentFailure",
    "IndexResult",
    "RawEventIndexer",
    "make_client",
]

logger = logging.getLogger(__name__)

#: Index name (fixed) or prefix (daily indices); the dashboard's index pattern is ``<prefix>*``.
DEFAULT_INDEX_PREFIX = "sensor-readings"
#: Documents per bulk request.
BULK_MAX_DOCS = 500
#: Bytes per bulk request; Amazon OpenSearch Service accepts 10 MiB on its smallest instance types.
BULK_MAX_BYTES = 5 * 1024 * 1024
#: Retries of 429-rejected documents inside `helpers.streaming_bulk`.
BULK_MAX_RETRIES = 5
#: Backoff (seconds) for 429 retries and 5xx rounds: initial, doubled each time, capped.
INITIAL_BACKOFF_S = 1.0
MAX_BACKOFF_S = 30.0
#: Extra rounds for documents that failed with a 5xx or a connection error.
SERVER_ERROR_ROUNDS = 3
#: Immediate re-sends by the transport on 502/503/504 and connection errors.
TRANSPORT_MAX_RETRIES = 3
TRANSPORT_TIMEOUT_S = 30

_AUTH_MODES = ("none", "basic", "sigv4")
_SERVICES = ("es", "aoss")


@dataclass(frozen=True)
class DocumentFailure:
    """One reading that was not indexed, with the reason and the reading itself (for dead letters)."""

    event_id: str | None
    index: str | None
    status: int | None
    error_type: str
    reason: str
    document: Mapping[str, Any] = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class IndexResult:
    """Outcome of `RawEventIndexer.index`: ids indexed (in bulk-response order) and the failures."""

    indexed: tuple[str, ...] = ()
    failed: tuple[DocumentFailure, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.failed


def make_client(
    url: str,
    auth: str = "none",
    username: str | None = None,
    password: str | None = None,
    region: str | None = None,
    service: str = "es",
    *,
    boto3_session: Any = None,
    timeout_s: float = TRANSPORT_TIMEOUT_S,
    max_retries: int = TRANSPORT_MAX_RETRIES,
    verify_certs: bool = True,
) -> OpenSearch:
    """An OpenSearch client for `url` with the given auth.

    Parameters
    ----------
    url : ``https://search-domain.region.es.amazonaws.com`` (or ``http://127.0.0.1:9200``).
    auth : ``none``; ``basic`` (`username`, `password`: fine-grained access control's internal users);
        ``sigv4`` (IAM: requests signed with the credentials of `boto3_session` or the default chain,
        e.g. the EMR instance profile).
    region : AWS region for sigv4; defaults to the session's region.
    service : ``es`` for Amazon OpenSearch Service domains, ``aoss`` for OpenSearch Serverless.

    Raises
    ------
    ValueError : an unknown auth or service, or missing credentials/region for it.
    """
    if auth not in _AUTH_MODES:
        raise ValueError(f"auth must be one of {_AUTH_MODES}, got {auth!r}")
    options: dict[str, Any] = {
        "hosts": [url],
        "timeout": timeout_s,
        "max_retries": max_retries,
        "retry_on_status": (502, 503, 504),
        "retry_on_timeout": True,
        "verify_certs": verify_certs,
    }
    if auth == "basic":
        if not username or password is None:
            raise ValueError("auth='basic' needs username and password")
        options["http_auth"] = (username, password)
    elif auth == "sigv4":
        options["http_auth"] = _sigv4_auth(region, service, boto3_session)
        options["connection_class"] = RequestsHttpConnection  # AWSV4SignerAuth signs `requests` requests
    return OpenSearch(**options)


def _sigv4_auth(region: str | None, service: str, boto3_session: Any) -> AWSV4SignerAuth:
    if service not in _SERVICES:
        raise ValueError(f"service must be one of {_SERVICES} (domain or serverless), got {service!r}")
    import boto3  # only sigv4 needs boto3

    session = boto3_session or boto3.session.Session()
    credentials = session.get_credentials()
    if credentials is None:
        raise ValueError("auth='sigv4' found no AWS credentials (instance profile, env or profile)")
    region = region or session.region_name
    if not region:
        raise ValueError("auth='sigv4' needs region= (or a default region in the AWS config)")
    return AWSV4SignerAuth(credentials, region, service)


class RawEventIndexer:
    """Bulk-indexes raw readings (dicts as in docs/simulator.md, "Event schema") with id = ``event_id``.

    Parameters
    ----------
    client : an `OpenSearch` client (see `make_client`).
    index : the fixed index name, or the prefix of the daily indices.
    daily_indices : ``True`` → ``<index>-YYYY.MM.DD`` (UTC day of ``ts``); ``False`` → `index`.
    template_name : name of the index template (default: `index`).
    chunk_size, max_chunk_bytes : bulk request limits.
    max_retries, initial_backoff_s, max_backoff_s, server_error_rounds : see the module docstring.
    """

    def __init__(
        self,
        client: OpenSearch,
        index: str = DEFAULT_INDEX_PREFIX,
        *,
        daily_indices: bool = True,
        template_name: str | None = None,
        chunk_size: int = BULK_MAX_DOCS,
        max_chunk_bytes: int = BULK_MAX_BYTES,
        max_retries: int = BULK_MAX_RETRIES,
        initial_backoff_s: float = INITIAL_BACKOFF_S,
        max_backoff_s: float = MAX_BACKOFF_S,
        server_error_rounds: int = SERVER_ERROR_ROUNDS,
    ) -> None:
        self.client = client
        self.index_name = index
        self.daily_indices = daily_indices
        self.template_name = template_name or index
        self.chunk_size = chunk_size
        self.max_chunk_bytes = max_chunk_bytes
        self.max_retries = max_retries
        self.initial_backoff_s = initial_backoff_s
        self.max_backoff_s = max_backoff_s
        self.server_error_rounds = server_error_rounds

    # -- template -------------------------------------------------------------------------------

    def template_body(self) -> dict[str, Any]:
        """The composable index template for the readings' indices."""
        patterns = [f"{self.index_name}-*"] if self.daily_indices else [self.index_name]
        return {
            "index_patterns": patterns,
            "priority": 100,
            "template": {
                "settings": {"index": {"refresh_interval": "5s"}},
                "mappings": {
                    # The reading's fields as the shared schema maps them, plus the point built from them.
                    "properties": {**opensearch_properties(), "location": {"type": "geo_point"}}
                },
            },
            "_meta": {"description": "Emberwatch raw sensor readings (jobs/bushfire/opensearch_sink.py)"},
        }

    def ensure_template(self) -> None:
        """Create or update the index template (idempotent; call once when the sink opens)."""
        self.client.indices.put_index_template(name=self.template_name, body=self.template_body())

    # -- documents ------------------------------------------------------------------------------

    def index_name_for(self, event: Mapping[str, Any]) -> str:
        """`index`, or ``<index>-YYYY.MM.DD`` of the event's UTC day."""
        if not self.daily_indices:
            return self.index_name
        day = datetime.fromtimestamp(int(event["ts"]) / 1000.0, tz=timezone.utc)
        return f"{self.index_name}-{day:%Y.%m.%d}"

    @staticmethod
    def to_document(event: Mapping[str, Any]) -> dict[str, Any]:
        """The reading as stored: its fields plus ``location`` {lat, lon} for geo queries and maps."""
        doc = dict(event)
        if event.get("lat") is not None and event.get("lon") is not None:
            doc["location"] = {"lat": event["lat"], "lon": event["lon"]}
        return doc

    def index(self, docs: Iterable[Mapping[str, Any]]) -> IndexResult:
        """Bulk-index the readings; returns the ids indexed and a failure (with reason) per other one.

        Readings with the same index and id in one call are sent once (the last one wins). Raises
        nothing for bad documents or an unreachable cluster: those come back as failures.
        """
        indexed: list[str] = []
        failed: list[DocumentFailure] = []
        pending: dict[tuple[str, str], tuple[dict[str, Any], str]] = {}  # (index, id) -> (action, source)
        originals: dict[tuple[str, str], Mapping[str, Any]] = {}
        for event in docs:
            try:
                key, action = self._action(event)
            except (KeyError, TypeError, ValueError, OverflowError, SerializationError) as exc:
                failed.append(_invalid(event, exc))
                continue
            pending[key] = action
            originals[key] = event
        for round_number in range(self.server_error_rounds + 1):
            if not pending:
                break
            if round_number:
                time.sleep(self._backoff_s(round_number))
            retry_later: dict[tuple[str, str], tuple[dict[str, Any], str]] = {}
            last_round = round_number == self.server_error_rounds
            for ok, item in self._stream(list(pending.values())):
                info = next(iter(item.values()))
                key = (info.get("_index"), str(info.get("_id")))
                if ok:
                    indexed.append(key[1])
                elif _server_side(info.get("status")) and not last_round and key in pending:
                    retry_later[key] = pending[key]
                else:
                    failed.append(_failure(info, originals.get(key, {})))
            pending = retry_later
        if failed:
            logger.warning(
                "%d of %d readings not indexed; first: %s", len(failed), len(failed) + len(indexed), failed[0]
            )
        return IndexResult(indexed=tuple(indexed), failed=tuple(failed))

    def _action(self, event: Mapping[str, Any]) -> tuple[tuple[str, str], tuple[dict[str, Any], str]]:
        event_id = event["event_id"]
        if event_id is None or str(event_id) == "":
            raise ValueError("event_id is empty")
        index = self.index_name_for(event)
        # Serialise here, per reading, so one value JSON cannot encode fails that reading alone
        # instead of the whole bulk call; streaming_bulk passes strings through unchanged.
        source = self.client.transport.serializer.dumps(self.to_document(event))
        action = {"index": {"_index": index, "_id": str(event_id)}}
        return (index, str(event_id)), (action, source)

    def _stream(self, actions: list[tuple[dict[str, Any], str]]) -> Iterable[tuple[bool, dict[str, Any]]]:
        return streaming_bulk(
            self.client,
            actions,
            expand_action_callback=_already_expanded,
            chunk_size=self.chunk_size,
            max_chunk_bytes=self.max_chunk_bytes,
            raise_on_error=False,
            raise_on_exception=False,
            max_retries=self.max_retries,
            initial_backoff=self.initial_backoff_s,
            max_backoff=self.max_backoff_s,
        )

    def _backoff_s(self, round_number: int) -> float:
        return min(self.max_backoff_s, self.initial_backoff_s * 2 ** (round_number - 1))


def _already_expanded(action: tuple[dict[str, Any], str]) -> tuple[dict[str, Any], str]:
    """Our actions are (action line, serialised source) pairs already."""
    return action


def _server_side(status: Any) -> bool:
    """5xx, or no HTTP status at all (a connection error reports ``N/A``): worth sending again."""
    return not isinstance(status, int) or status >= 500


def _failure(info: Mapping[str, Any], document: Mapping[str, Any]) -> DocumentFailure:
    error = info.get("error")
    if isinstance(error, Mapping):
        error_type, reason = str(error.get("type", "unknown")), str(error.get("reason", error))
    else:  # a request-level failure: streaming_bulk puts the exception's text here
        exception = info.get("exception")
        error_type = type(exception).__name__ if exception is not None else "error"
        reason = str(error)
    status = info.get("status")
    return DocumentFailure(
        event_id=info.get("_id"),
        index=info.get("_index"),
        status=status if isinstance(status, int) else None,
        error_type=error_type,
        reason=reason,
        document=document,
    )


def _invalid(event: Any, exc: Exception) -> DocumentFailure:
    event_id = event.get("event_id") if isinstance(event, Mapping) else None
    reason = f"not a reading ({type(exc).__name__}: {exc}); needs event_id and an integer ts"
    document = event if isinstance(event, Mapping) else {"raw": repr(event)}
    return DocumentFailure(event_id, None, None, "invalid_document", reason, document)
