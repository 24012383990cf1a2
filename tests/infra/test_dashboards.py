"""Dashboards saved objects: well-formed and wired together, and imported the way Dashboards expects."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from infra.cli import main
from infra.dashboard_import import SAVED_OBJECTS, read_saved_objects
from infra.dashboards import generate


def test_committed_ndjson_is_what_the_generator_writes() -> None:
    assert SAVED_OBJECTS.read_text(encoding="utf-8") == generate.render()


def _by_type(kind: str) -> list[dict]:
    return [o for o in read_saved_objects() if o["type"] == kind]


def test_index_pattern_types_the_raw_reading_fields() -> None:
    (pattern,) = _by_type("index-pattern")
    assert pattern["attributes"]["timeFieldName"] == "ts"
    fields = {f["name"]: (f["type"], f["esTypes"]) for f in json.loads(pattern["attributes"]["fields"])}
    assert {name: fields[name] for name in ("event_id", "node", "region", "infectedBy")} == {
        name: ("string", ["keyword"]) for name in ("event_id", "node", "region", "infectedBy")
    }
    assert fields["ts"] == ("date", ["date"])
    assert fields["temperature"] == ("number", ["float"])
    assert fields["location"] == ("geo_point", ["geo_point"])


def test_index_pattern_matches_the_job_index_template() -> None:
    """The fields and their types are the mapping the job's indexer installs, for every index it writes."""
    from fnmatch import fnmatch

    from opensearchpy import OpenSearch

    from jobs.bushfire.opensearch_sink import RawEventIndexer

    (pattern,) = _by_type("index-pattern")
    fields = {f["name"]: f["esTypes"] for f in json.loads(pattern["attributes"]["fields"])}
    client = OpenSearch(hosts=["http://127.0.0.1:9"])  # never contacted: only the template is read
    for daily in (True, False):
        template = RawEventIndexer(client, "sensor-readings", daily_indices=daily).template_body()
        mapping = template["template"]["mappings"]["properties"]
        assert fields == {name: [spec["type"]] for name, spec in mapping.items()}
        index = RawEventIndexer(client, "sensor-readings", daily_indices=daily).index_name_for({"ts": 0})
        assert fnmatch(index, pattern["attributes"]["title"])


def test_every_reference_resolves_and_every_field_used_exists() -> None:
    objects = read_saved_objects()
    ids = {(o["type"], o["id"]) for o in objects}
    for obj in objects:
        for ref in obj["references"]:
            assert (ref["type"], ref["id"]) in ids, f"{obj['id']} refers to missing {ref}"
    (pattern,) = _by_type("index-pattern")
    known = {f["name"] for f in json.loads(pattern["attributes"]["fields"])}
    for vis in _by_type("visualization"):
        for agg in json.loads(vis["attributes"]["visState"])["aggs"]:
            assert agg["params"].get("field", "ts") in known, f"{vis['id']}: unknown field in {agg}"


def test_visualizations_are_the_heat_map_the_time_chart_and_the_alerts_view() -> None:
    states = {v["id"]: json.loads(v["attributes"]["visState"]) for v in _by_type("visualization")}
    heat = states["emberwatch-temperature-heatmap"]
    assert heat["type"] == "tile_map" and heat["params"]["mapType"] == "Heatmap"
    assert {(a["type"], a["params"]["field"]) for a in heat["aggs"]} == {
        ("max", "temperature"),
        ("geohash_grid", "location"),
    }
    line = states["emberwatch-temperature-over-time"]
    assert ("date_histogram", "ts") in {(a["type"], a["params"]["field"]) for a in line["aggs"]}
    (spread,) = [v for v in _by_type("visualization") if v["id"] == "emberwatch-fire-spread"]
    assert "temperature >= 50" in spread["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"]
    (board,) = _by_type("dashboard")
    panels = json.loads(board["attributes"]["panelsJSON"])
    assert [p["panelRefName"] for p in panels] == [r["name"] for r in board["references"]]
    assert len(panels) == 4


class _Recorder(BaseHTTPRequestHandler):
    """Answers like Dashboards' import API and remembers each request."""

    requests: list[dict] = []
    status = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
        count = sum(1 for line in SAVED_OBJECTS.read_text().splitlines() if line.strip())
        payload = {"success": True, "successCount": count} if self.status == 200 else {"message": "no"}
        data = json.dumps(payload).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture()
def dashboards_fake() -> Iterator[type[_Recorder]]:
    handler = type("Recorder", (_Recorder,), {"requests": [], "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    handler.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield handler
    finally:
        server.shutdown()
        server.server_close()


def test_import_posts_the_ndjson_signed_with_sigv4(dashboards_fake, capsys) -> None:
    assert main(["dashboards", "--url", dashboards_fake.url, "--region", "us-east-1"]) == 0
    (request,) = dashboards_fake.requests
    assert request["path"] == "/_dashboards/api/saved_objects/_import?overwrite=true"
    assert request["headers"]["osd-xsrf"] == "true"
    assert request["headers"]["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=")
    assert "/us-east-1/es/aws4_request" in request["headers"]["Authorization"]
    assert request["headers"]["Content-Type"].startswith("multipart/form-data; boundary=")
    assert SAVED_OBJECTS.read_bytes() in request["body"]
    assert b'name="file"; filename="emberwatch.ndjson"' in request["body"]
    assert "imported 6 saved objects" in capsys.readouterr().out


def test_import_with_basic_auth(dashboards_fake, monkeypatch) -> None:
    monkeypatch.setenv("EMBERWATCH_OS_PASSWORD", "s3cret")
    assert main(["dashboards", "--url", dashboards_fake.url, "--auth", "basic", "--user", "admin"]) == 0
    assert dashboards_fake.requests[0]["headers"]["Authorization"] == "Basic YWRtaW46czNjcmV0"


def test_basic_auth_without_a_password_says_where_to_put_it(dashboards_fake, monkeypatch, capsys) -> None:
    monkeypatch.delenv("EMBERWATCH_OS_PASSWORD", raising=False)
    assert main(["dashboards", "--url", dashboards_fake.url, "--auth", "basic", "--user", "admin"]) == 2
    assert "EMBERWATCH_OS_PASSWORD" in capsys.readouterr().err
    assert dashboards_fake.requests == []


def test_access_denied_points_at_the_allowed_cidr(dashboards_fake, capsys) -> None:
    dashboards_fake.status = 403
    assert main(["dashboards", "--url", dashboards_fake.url, "--auth", "none"]) == 2
    assert "DashboardAllowedCidr" in capsys.readouterr().err
    assert "Authorization" not in dashboards_fake.requests[0]["headers"]
