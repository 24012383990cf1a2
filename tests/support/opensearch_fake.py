"""A small HTTP fake of OpenSearch for tests: the REST calls the raw-event sink makes, answered the way
OpenSearch 2.x answers them, so real opensearch-py clients (retries, bulk helpers, auth) run unchanged.

Speaks: ``GET /`` (and ``HEAD /``), ``PUT|GET|DELETE /_index_template/<name>``, ``POST|PUT [/<index>]/_bulk``
(NDJSON ``index``/``create``/``delete`` actions; per-item ``_id``, ``status``, ``result`` or ``error``;
the ``errors`` flag), ``GET /<index>/_doc/<id>``, ``GET|POST [/<index>]/_count``,
``POST|GET [/<index>]/_refresh``, ``DELETE /<index>``. Index expressions accept ``*`` and commas.

Documents are checked against the mappings of the index template whose pattern matches the index
(highest priority wins): a value that cannot be read as the mapped type (float, date epoch_millis,
geo_point, keyword) fails that item with ``400 mapper_parsing_exception``, as OpenSearch does.

Fault injection (thread-safe; set from the test):
- ``fail_next_bulk(count, status=429|503|...)``: the next `count` bulk requests answer `status` as a
  whole, with OpenSearch's error body (``es_rejected_execution_exception`` for 429).
- ``reject_items_next_bulk(count)``: the next `count` bulk requests answer 200 with every item
  rejected ``429`` (a full write queue, item by item).
- ``mapping_error_ids``: document ids that always fail with ``400 mapper_parsing_exception``.

Every request is recorded (method, path, headers, body) in ``requests`` so tests can check auth headers.

Example
-------
>>> with OpenSearchFake() as fake:                       # doctest: +SKIP
...     client = OpenSearch(hosts=[fake.url])
...     fake.fail_next_bulk(2, status=429)
"""

from __future__ import annotations

import fnmatch
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = ["OpenSearchFake", "RecordedRequest"]

VERSION = "2.15.0"


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class _Doc:
    source: dict[str, Any]
    version: int
    seq_no: int


class _MappingError(Exception):
    pass


@dataclass
class _State:
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)
    indices: dict[str, dict[str, _Doc]] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    bulk_failures: list[int] = field(default_factory=list)  # statuses of the next whole-request failures
    item_rejections: int = 0
    mapping_error_ids: set[str] = field(default_factory=set)
    bulk_calls: int = 0
    seq_no: int = 0
    auto_id: int = 0


class OpenSearchFake:
    """Start with ``with OpenSearchFake() as fake:`` (or `start`/`stop`); `url` is where it listens."""

    def __init__(self) -> None:
        self._state = _State()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> OpenSearchFake:
        handler = type("_BoundHandler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> OpenSearchFake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- fault injection and inspection ---------------------------------------------------------

    def fail_next_bulk(self, count: int, status: int = 429) -> None:
        with self._lock:
            self._state.bulk_failures += [status] * count

    def reject_items_next_bulk(self, count: int) -> None:
        with self._lock:
            self._state.item_rejections += count

    @property
    def mapping_error_ids(self) -> set[str]:
        return self._state.mapping_error_ids

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._state.requests)

    @property
    def bulk_calls(self) -> int:
        return self._state.bulk_calls

    def documents(self, index_pattern: str = "*") -> dict[tuple[str, str], dict[str, Any]]:
        """{(index, id): source} for every stored document in the matching indices."""
        with self._lock:
            return {
                (name, doc_id): doc.source
                for name in self._matching_indices(index_pattern)
                for doc_id, doc in self._state.indices[name].items()
            }

    # -- request handling (called from the handler threads, under the lock) ----------------------

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        path = unquote(urlsplit(raw_path).path)
        parts = [p for p in path.split("/") if p]
        with self._lock:
            self._state.requests.append(RecordedRequest(method, raw_path, headers, body))
            return self._route(method, parts, body)

    def _route(self, method: str, parts: list[str], body: bytes) -> tuple[int, Any]:
        if not parts:
            return 200, _root_info()
        if parts[0] == "_index_template" and len(parts) == 2:
            return self._template(method, parts[1], body)
        if parts[-1] == "_bulk" and method in ("POST", "PUT") and len(parts) <= 2:
            return self._bulk(parts[0] if len(parts) == 2 else None, body)
        if parts[-1] == "_count" and len(parts) <= 2:
            return self._count(parts[0] if len(parts) == 2 else "*")
        if parts[-1] == "_refresh" and len(parts) <= 2:
            return 200, {"_shards": {"total": 1, "successful": 1, "failed": 0}}
        if len(parts) == 3 and parts[1] == "_doc" and method == "GET":
            return self._get_doc(parts[0], parts[2])
        if len(parts) == 1 and method == "DELETE":
            return self._delete_index(parts[0])
        return 400, _error(
            "invalid_request_exception", f"the fake does not speak {method} /{'/'.join(parts)}", 400
        )

    def _template(self, method: str, name: str, body: bytes) -> tuple[int, Any]:
        if method == "PUT":
            template = json.loads(body or b"{}")
            if not template.get("index_patterns"):
                return 400, _error("action_request_validation_exception", "index patterns are missing", 400)
            self._state.templates[name] = template
            return 200, {"acknowledged": True}
        if name not in self._state.templates:
            reason = f"index template matching [{name}] not found"
            return 404, _error("resource_not_found_exception", reason, 404)
        if method == "DELETE":
            del self._state.templates[name]
            return 200, {"acknowledged": True}
        return 200, {"index_templates": [{"name": name, "index_template": self._state.templates[name]}]}

    def _bulk(self, default_index: str | None, body: bytes) -> tuple[int, Any]:
        state = self._state
        state.bulk_calls += 1
        if state.bulk_failures:
            status = state.bulk_failures.pop(0)
            kind = "es_rejected_execution_exception" if status == 429 else "unavailable_shards_exception"
            return status, _error(kind, f"injected failure: HTTP {status}", status)
        reject_items = state.item_rejections > 0
        if reject_items:
            state.item_rejections -= 1
        lines = [line for line in body.split(b"\n") if line.strip()]
        items: list[dict[str, Any]] = []
        position = 0
        while position < len(lines):
            ((op, meta),) = json.loads(lines[position]).items()
            position += 1
            source = None
            if op in ("index", "create", "update"):
                source = json.loads(lines[position])
                position += 1
            index = meta.get("_index") or default_index
            items.append({op: self._bulk_item(op, index, meta.get("_id"), source, reject_items)})
        errors = any("error" in next(iter(item.values())) for item in items)
        return 200, {"took": 1, "errors": errors, "items": items}

    def _bulk_item(
        self, op: str, index: str, doc_id: str | None, source: dict[str, Any] | None, reject: bool
    ) -> dict[str, Any]:
        state = self._state
        if doc_id is None:
            state.auto_id += 1
            doc_id = f"auto-{state.auto_id}"
        item: dict[str, Any] = {"_index": index, "_id": doc_id}
        if reject:
            reason = "rejected execution of coordinating operation [injected]"
            return {
                **item,
                "status": 429,
                "error": {"type": "es_rejected_execution_exception", "reason": reason},
            }
        if op not in ("index", "create", "delete"):
            return {
                **item,
                "status": 400,
                "error": {"type": "illegal_argument_exception", "reason": f"{op}?"},
            }
        docs = state.indices.setdefault(index, {})
        if op == "delete":
            found = docs.pop(doc_id, None)
            return {**item, "status": 200 if found else 404, "result": "deleted" if found else "not_found"}
        if op == "create" and doc_id in docs:
            reason = f"[{doc_id}]: version conflict, document already exists"
            return {
                **item,
                "status": 409,
                "error": {"type": "version_conflict_engine_exception", "reason": reason},
            }
        try:
            if doc_id in state.mapping_error_ids:
                raise _MappingError(f"failed to parse document with id '{doc_id}' (injected mapping error)")
            self._check_mapping(index, source or {}, doc_id)
        except _MappingError as exc:
            return {**item, "status": 400, "error": {"type": "mapper_parsing_exception", "reason": str(exc)}}
        state.seq_no += 1
        previous = docs.get(doc_id)
        version = previous.version + 1 if previous else 1
        docs[doc_id] = _Doc(source=source or {}, version=version, seq_no=state.seq_no)
        shards = {"total": 2, "successful": 1, "failed": 0}
        return {
            **item,
            "_version": version,
            "result": "updated" if previous else "created",
            "_shards": shards,
            "_seq_no": state.seq_no,
            "_primary_term": 1,
            "status": 200 if previous else 201,
        }

    def _check_mapping(self, index: str, source: dict[str, Any], doc_id: str) -> None:
        properties = self._mappings_for(index)
        for name, value in source.items():
            kind = properties.get(name, {}).get("type")
            if kind is None or value is None:
                continue
            if not _fits(kind, value):
                preview = json.dumps(value)[:40]
                raise _MappingError(
                    f"failed to parse field [{name}] of type [{kind}] in document with id '{doc_id}'. "
                    f"Preview of field's value: '{preview}'"
                )

    def _mappings_for(self, index: str) -> dict[str, Any]:
        matching = [
            t
            for t in self._state.templates.values()
            if any(fnmatch.fnmatchcase(index, p) for p in t.get("index_patterns", []))
        ]
        if not matching:
            return {}
        best = max(matching, key=lambda t: t.get("priority", 0))
        return best.get("template", {}).get("mappings", {}).get("properties", {})

    def _get_doc(self, index: str, doc_id: str) -> tuple[int, Any]:
        if index not in self._state.indices:
            return 404, _error("index_not_found_exception", f"no such index [{index}]", 404)
        doc = self._state.indices[index].get(doc_id)
        if doc is None:
            return 404, {"_index": index, "_id": doc_id, "found": False}
        return 200, {
            "_index": index,
            "_id": doc_id,
            "_version": doc.version,
            "_seq_no": doc.seq_no,
            "_primary_term": 1,
            "found": True,
            "_source": doc.source,
        }

    def _count(self, expression: str) -> tuple[int, Any]:
        names = self._matching_indices(expression)
        count = sum(len(self._state.indices[name]) for name in names)
        return 200, {"count": count, "_shards": {"total": len(names), "successful": len(names), "failed": 0}}

    def _delete_index(self, expression: str) -> tuple[int, Any]:
        names = self._matching_indices(expression)
        if not names and "*" not in expression:
            return 404, _error("index_not_found_exception", f"no such index [{expression}]", 404)
        for name in names:
            del self._state.indices[name]
        return 200, {"acknowledged": True}

    def _matching_indices(self, expression: str) -> list[str]:
        patterns = [p for p in expression.split(",") if p and p != "_all"] or ["*"]
        return sorted(n for n in self._state.indices if any(fnmatch.fnmatchcase(n, p) for p in patterns))


def _fits(kind: str, value: Any) -> bool:
    """Whether OpenSearch (default coercion on) would accept `value` for a field of type `kind`."""
    if kind in ("float", "double", "half_float", "scaled_float", "long", "integer", "short", "byte", "date"):
        if isinstance(value, bool):
            return False
        if isinstance(value, (int, float)):
            return True
        if isinstance(value, str):
            try:
                float(value)
            except ValueError:
                return False
            return True
        return False
    if kind == "keyword":
        return isinstance(value, (str, int, float, bool))
    if kind == "geo_point":
        if isinstance(value, dict):
            lat, lon = value.get("lat"), value.get("lon")
        elif isinstance(value, (list, tuple)) and len(value) == 2:
            lon, lat = value
        else:
            return False
        ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lat, lon))
        return ok and -90 <= lat <= 90 and -180 <= lon <= 180
    return True


def _root_info() -> dict[str, Any]:
    return {
        "name": "opensearch-fake",
        "cluster_name": "opensearch-fake",
        "cluster_uuid": "fake-cluster-uuid",
        "version": {
            "distribution": "opensearch",
            "number": VERSION,
            "build_type": "tar",
            "lucene_version": "9.10.0",
            "minimum_wire_compatibility_version": "7.10.0",
            "minimum_index_compatibility_version": "7.0.0",
        },
        "tagline": "The OpenSearch Project: https://opensearch.org/",
    }


def _error(kind: str, reason: str, status: int) -> dict[str, Any]:
    return {
        "error": {"root_cause": [{"type": kind, "reason": reason}], "type": kind, "reason": reason},
        "status": status,
    }


class _Handler(BaseHTTPRequestHandler):
    fake: OpenSearchFake
    protocol_version = "HTTP/1.1"  # keep-alive, as urllib3 and requests expect
    disable_nagle_algorithm = True  # answer at once (no 40 ms delayed-ACK stall per request)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, payload = self.fake.handle(self.command, self.path, headers, body)
        data = b"" if self.command == "HEAD" else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _serve

    def log_message(self, *args: Any) -> None:
        pass
