"""Write `emberwatch.ndjson`, the Dashboards saved objects, from readable Python.

Saved objects nest JSON inside JSON strings (visState, searchSourceJSON, panelsJSON), which is easy
to get wrong by hand; this script is the source and the NDJSON file its output. A test checks they
agree. Run: `python -m infra.dashboards.generate`.
"""

from __future__ import annotations

import json
from pathlib import Path

OUTPUT = Path(__file__).parent / "emberwatch.ndjson"
INDEX_PATTERN_ID = "emberwatch-sensor-readings"
INDEX_TITLE = "sensor-readings*"
HOT_THRESHOLD = 50
INDEX_REF = "kibanaSavedObjectMeta.searchSourceJSON.index"

# Raw reading fields as the job indexes them (jobs/bushfire/opensearch_sink.py's index template):
# (name, Dashboards type, OpenSearch type).
FIELDS = [
    ("event_id", "string", "keyword"),
    ("node", "string", "keyword"),
    ("region", "string", "keyword"),
    ("infectedBy", "string", "keyword"),
    ("ts", "date", "date"),
    ("temperature", "number", "float"),
    ("battery", "number", "float"),
    ("lat", "number", "float"),
    ("lon", "number", "float"),
    ("location", "geo_point", "geo_point"),
]


def _compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def index_pattern() -> dict:
    fields = [
        {
            "name": name,
            "type": kind,
            "esTypes": [es_type],
            "searchable": True,
            "aggregatable": True,
            "readFromDocValues": True,
            "count": 0,
            "scripted": False,
        }
        for name, kind, es_type in FIELDS
    ]
    return {
        "type": "index-pattern",
        "id": INDEX_PATTERN_ID,
        "attributes": {"title": INDEX_TITLE, "timeFieldName": "ts", "fields": _compact(fields)},
        "references": [],
    }


def _search_source(query: str = "") -> str:
    return _compact({"query": {"query": query, "language": "kuery"}, "filter": [], "indexRefName": INDEX_REF})


def max_temperature(agg_id: str) -> dict:
    """The metric every Emberwatch chart plots: the hottest reading in the bucket."""
    params = {"field": "temperature"}
    return {"id": agg_id, "enabled": True, "type": "max", "schema": "metric", "params": params}


def visualization(obj_id: str, title: str, vis_type: str, params: dict, aggs: list, query: str = "") -> dict:
    vis_state = {"title": title, "type": vis_type, "params": params, "aggs": aggs}
    return {
        "type": "visualization",
        "id": obj_id,
        "attributes": {
            "title": title,
            "description": "",
            "version": 1,
            "uiStateJSON": "{}",
            "visState": _compact(vis_state),
            "kibanaSavedObjectMeta": {"searchSourceJSON": _search_source(query)},
        },
        "references": [{"name": INDEX_REF, "type": "index-pattern", "id": INDEX_PATTERN_ID}],
    }


def heat_map() -> dict:
    """Hottest reading per geohash cell, drawn as a heat map over the sensors' locations."""
    return visualization(
        "emberwatch-temperature-heatmap",
        "Emberwatch: temperature heat map",
        "tile_map",
        {
            "mapType": "Heatmap",
            "heatClusterSize": 1.5,
            "isDesaturated": True,
            "addTooltip": True,
            "mapZoom": 2,
            "mapCenter": [0, 0],
            "wms": {"enabled": False},
        },
        [
            max_temperature("1"),
            {
                "id": "2",
                "enabled": True,
                "type": "geohash_grid",
                "schema": "segment",
                "params": {
                    "field": "location",
                    "autoPrecision": True,
                    "precision": 6,
                    "useGeocentroid": True,
                    "isFilteredByCollar": True,
                },
            },
        ],
    )


def temperature_over_time() -> dict:
    """Maximum temperature per minute, one line per region (top 10 hottest regions)."""
    return visualization(
        "emberwatch-temperature-over-time",
        "Emberwatch: temperature over time",
        "line",
        {
            "type": "line",
            "addLegend": True,
            "legendPosition": "right",
            "addTooltip": True,
            "thresholdLine": {
                "show": True,
                "value": HOT_THRESHOLD,
                "width": 1,
                "style": "dashed",
                "color": "#E7664C",
            },
        },
        [
            max_temperature("1"),
            {
                "id": "2",
                "enabled": True,
                "type": "date_histogram",
                "schema": "segment",
                "params": {"field": "ts", "interval": "m", "min_doc_count": 1, "extended_bounds": {}},
            },
            {
                "id": "3",
                "enabled": True,
                "type": "terms",
                "schema": "group",
                "params": {"field": "region", "size": 10, "order": "desc", "orderBy": "1"},
            },
        ],
    )


def fire_spread_table() -> dict:
    """The alerts view: burning nodes and who infected them (the links alert chains are made of)."""
    return visualization(
        "emberwatch-fire-spread",
        f"Emberwatch: fire spread (readings >= {HOT_THRESHOLD} °C)",
        "table",
        {"perPage": 20, "showPartialRows": False, "showMetricsAtAllLevels": False, "showTotal": False},
        [
            {"id": "1", "enabled": True, "type": "min", "schema": "metric", "params": {"field": "ts"}},
            max_temperature("2"),
            {
                "id": "3",
                "enabled": True,
                "type": "terms",
                "schema": "bucket",
                "params": {"field": "region", "size": 20, "order": "desc", "orderBy": "2"},
            },
            {
                "id": "4",
                "enabled": True,
                "type": "terms",
                "schema": "bucket",
                "params": {"field": "infectedBy", "size": 50, "order": "desc", "orderBy": "2"},
            },
            {
                "id": "5",
                "enabled": True,
                "type": "terms",
                "schema": "bucket",
                "params": {"field": "node", "size": 50, "order": "desc", "orderBy": "2"},
            },
        ],
        query=f"temperature >= {HOT_THRESHOLD}",
    )


def hot_readings_search() -> dict:
    """A saved search listing the newest hot readings, for drilling into an alert."""
    return {
        "type": "search",
        "id": "emberwatch-hot-readings",
        "attributes": {
            "title": f"Emberwatch: hot readings (>= {HOT_THRESHOLD} °C)",
            "description": "",
            "columns": ["region", "node", "infectedBy", "temperature"],
            "sort": [["ts", "desc"]],
            "version": 1,
            "kibanaSavedObjectMeta": {"searchSourceJSON": _search_source(f"temperature >= {HOT_THRESHOLD}")},
        },
        "references": [{"name": INDEX_REF, "type": "index-pattern", "id": INDEX_PATTERN_ID}],
    }


def dashboard(panels: list[dict]) -> dict:
    layout = [(0, 0, 24, 18), (24, 0, 24, 18), (0, 18, 24, 18), (24, 18, 24, 18)]
    panels_json = []
    references = []
    for number, (panel, (x, y, w, h)) in enumerate(zip(panels, layout)):
        ref = f"panel_{number}"
        panels_json.append(
            {
                "panelIndex": str(number + 1),
                "gridData": {"x": x, "y": y, "w": w, "h": h, "i": str(number + 1)},
                "embeddableConfig": {},
                "version": "2.17.0",
                "panelRefName": ref,
            }
        )
        references.append({"name": ref, "type": panel["type"], "id": panel["id"]})
    return {
        "type": "dashboard",
        "id": "emberwatch-bushfire",
        "attributes": {
            "title": "Emberwatch: bushfire monitoring",
            "description": "Live heat map, temperatures and fire spread from the sensor network",
            "panelsJSON": _compact(panels_json),
            "optionsJSON": _compact({"useMargins": True, "hidePanelTitles": False}),
            "timeRestore": True,
            "timeFrom": "now-2h",
            "timeTo": "now",
            "refreshInterval": {"pause": False, "value": 10000},
            "version": 1,
            "kibanaSavedObjectMeta": {
                "searchSourceJSON": _compact({"query": {"query": "", "language": "kuery"}, "filter": []})
            },
        },
        "references": references,
    }


def saved_objects() -> list[dict]:
    panels = [heat_map(), temperature_over_time(), fire_spread_table(), hot_readings_search()]
    return [index_pattern(), *panels, dashboard(panels)]


def render() -> str:
    return "".join(_compact(obj) + "\n" for obj in saved_objects())


if __name__ == "__main__":
    OUTPUT.write_text(render(), encoding="utf-8")
