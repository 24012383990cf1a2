"""The heat-map page, rendered by a real headless Chromium: what its script drew must match the input."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tracemalloc
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from heatmap import (
    BURNING_COLOUR,
    colour_bins,
    iter_jsonl,
    latest_readings,
    main,
    render_heatmap,
)

T0 = 1_790_000_000_000
MINUTE = 60_000


def reading(region: str, number: int, minute: int, temperature: float, side: int = 3) -> dict[str, Any]:
    """Sensor `number` of a side x side grid in `region`, 0.01° apart."""
    row, col = divmod(number, side)
    return {
        "event_id": f"{region}-n{number:03d}-{minute}",
        "node": f"{region}-n{number:03d}",
        "region": region,
        "ts": T0 + minute * MINUTE,
        "temperature": temperature,
        "infectedBy": None,
        "lat": -33.80 - row * 0.01,
        "lon": 151.20 + col * 0.01,
    }


def alert(region: str, numbers: list[int], side: int = 3) -> dict[str, Any]:
    readings = [reading(region, n, i, 60.0 + i, side) for i, n in enumerate(numbers)]
    path = [r["node"] for r in readings]
    return {
        "alert_id": f"{region}:{'>'.join(path)}",
        "region": region,
        "path": path,
        "first_ts": readings[0]["ts"],
        "last_ts": readings[-1]["ts"],
        "readings": [{k: r[k] for k in ("node", "ts", "temperature", "lat", "lon")} for r in readings],
        "detected_at": readings[-1]["ts"] + 1000,
    }


# -- running Chromium --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail("chromium not found: apt-get install -y chromium (scripts/test.sh does it as root)")
    return exe


def browser(chromium: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    argv = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--no-first-run", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}", *args,
    ]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=True)


def dump_dom(chromium: str, page: Path, tmp_path: Path) -> DomIndex:
    """The DOM after the page's script ran, as Chromium serialises it."""
    done = browser(chromium, tmp_path, "--dump-dom", page.resolve().as_uri())
    dom = DomIndex()
    dom.feed(done.stdout)
    assert dom.by_id.get("body-rendered") == "true", "the page script did not finish: " + done.stderr[-2000:]
    return dom


class DomIndex(HTMLParser):
    """Elements by tag, texts by id: enough to read what the page drew."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.by_id: dict[str, str] = {}
        self._open_id: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        self.elements.append((tag, attributes))
        if tag == "body":
            self.by_id["body-rendered"] = attributes.get("data-rendered", "")
        self._open_id = attributes.get("id")

    def handle_data(self, data: str) -> None:
        if self._open_id and data.strip():
            self.by_id[self._open_id] = data.strip()
        self._open_id = None

    def find(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        wanted = {k.replace("_", "-"): v for k, v in attrs.items()}
        return [a for t, a in self.elements if t == tag and all(a.get(k) == v for k, v in wanted.items())]

    def count(self, name: str) -> int:
        return int(self.by_id[f"count-{name}"])


# -- tests ---------------------------------------------------------------------------------------


@pytest.fixture()
def small_network() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Regions a, b, c with 3x3 sensors each; two readings a node, the newer one counts."""
    events: list[dict[str, Any]] = []
    hot_latest = {("a", 0), ("a", 1), ("a", 2), ("a", 5), ("a", 8), ("b", 4)}
    hot_earlier_only = {("a", 6), ("c", 7)}  # burned, then cooled: not burning now
    for region in "abc":
        for number in range(9):
            earlier = 70.0 if (region, number) in hot_earlier_only else 20.0
            latest = 55.0 + number if (region, number) in hot_latest else 12.0 + number * 4
            events.append(reading(region, number, 0, earlier))
            events.append(reading(region, number, 3, latest))
    events.insert(5, {"node": "a-n099", "region": "a", "ts": "not-a-time"})  # malformed: skipped
    alerts = [alert("a", [0, 1, 2, 5, 8]), alert("a", [1, 2, 5, 8, 7]), alert("b", [0, 1, 4, 7, 8])]
    return events, alerts


def test_page_draws_latest_temperatures_burning_nodes_and_paths(chromium, tmp_path, small_network):
    events, alerts = small_network
    page = tmp_path / "map.html"

    summary = render_heatmap(iter(events), [*alerts, {"alert_id": "no-path"}], page, title="Test <fire> map")
    dom = dump_dom(chromium, page, tmp_path)

    assert (summary.regions, summary.sensors, summary.burning, summary.alert_paths) == (3, 27, 6, 3)
    assert (summary.events_read, summary.events_skipped, summary.alerts_skipped) == (55, 1, 1)
    assert (dom.count("sensors"), dom.count("burning"), dom.count("paths"), dom.count("regions")) == (
        27,
        6,
        3,
        3,
    )
    assert len(dom.find("circle")) == 27

    burning = {c["data-node"] for c in dom.find("circle") if "burning" in c["class"].split()}
    assert burning == {"a-n000", "a-n001", "a-n002", "a-n005", "a-n008", "b-n004"}
    assert dom.find("circle", data_node="a-n005")[0]["fill"] == BURNING_COLOUR
    cooled = dom.find("circle", data_node="a-n006")[0]  # 70 °C earlier, 36 °C now
    assert cooled["fill"] != BURNING_COLOUR and cooled["data-temperature"] == "36"
    cold = dom.find("circle", data_node="c-n000")[0]
    assert cold["fill"] == colour_bins()[0]["colour"]

    groups = dom.find("g", **{"class": "alert-path"})
    assert sorted(g["data-path"] for g in groups) == sorted(">".join(a["path"]) for a in alerts)
    assert len(dom.find("line")) == 3 * 4  # one arrow per hop

    rows = dom.find("tr", data_region="a")
    assert len(rows) == 2 and len(dom.find("tr", data_region="b")) == 1
    assert "Test &lt;fire&gt; map" in page.read_text() and "<fire>" not in page.read_text()


def test_page_loads_nothing_from_the_network(tmp_path, small_network):
    events, alerts = small_network
    page = tmp_path / "map.html"
    render_heatmap(events, alerts, page)
    text = page.read_text()

    urls = set(re.findall(r"https?://[^\s\"')<]+", text))
    assert urls == {"http://www.w3.org/2000/svg"}  # an XML namespace name, never fetched
    assert not re.search(r"<(link|img|iframe)\b|src=|@import|@font-face", text)


def test_a_region_can_be_opened_from_the_link(chromium, tmp_path, small_network):
    events, alerts = small_network
    page = tmp_path / "map.html"
    render_heatmap(events, alerts, page)

    done = browser(chromium, tmp_path, "--dump-dom", page.resolve().as_uri() + "#region=b")

    hidden = set(re.findall(r'<section class="panel[^"]*hidden[^"]*" data-region="(\w+)"', done.stdout))
    assert hidden == {"a", "c"}


def test_hundred_regions_of_hundred_sensors(chromium, tmp_path):
    """The benchmark network's size: 10,000 sensors, streamed from a generator, all drawn."""

    def stream() -> Iterator[dict[str, Any]]:
        for minute in range(2):
            for r in range(100):
                for n in range(100):
                    hot = n in (0, 1, 2, 12, 22) and minute == 1
                    yield reading(f"r{r:03d}", n, minute, 65.0 if hot else 20.0 + (n % 25), side=10)

    alerts = [alert(f"r{r:03d}", [0, 1, 2, 12, 22], side=10) for r in range(0, 100, 2)]
    page = tmp_path / "big.html"

    summary = render_heatmap(stream(), alerts, page)
    dom = dump_dom(chromium, page, tmp_path)

    assert (summary.sensors, summary.burning, summary.alert_paths) == (10_000, 500, 50)
    assert (dom.count("sensors"), dom.count("burning"), dom.count("paths"), dom.count("regions")) == (
        10_000, 500, 50, 100,
    )  # fmt: skip


def test_latest_readings_keeps_per_node_state_not_the_stream():
    """30k readings in, memory for 3,000 latest readings only."""

    def stream() -> Iterator[dict[str, Any]]:
        for minute in range(10):
            for r in range(30):
                for n in range(100):
                    yield reading(f"r{r:03d}", n, minute, 20.0 + minute, side=10)

    tracemalloc.start()
    try:
        latest, read, skipped = latest_readings(stream())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert (len(latest), read, skipped) == (3_000, 30_000, 0)
    assert {r.temperature for r in latest.values()} == {29.0}
    assert peak < 5 * 1024 * 1024  # holding the 30k reading dicts would take about 17 MB


def test_records_without_a_string_region_or_node_are_not_drawn():
    """An invalid record (region or node null/number) is skipped, not drawn as a region "None"."""
    good = reading("r001", 1, 0, 25.0, side=10)
    bad = [dict(good, region=None), dict(good, node=7), {k: v for k, v in good.items() if k != "region"}]
    latest, read, skipped = latest_readings([good, *bad])
    assert (list(latest), read, skipped) == ([("r001", good["node"])], 4, 3)


def test_command_line_reads_jsonl(tmp_path, small_network, capsys):
    events, alerts = small_network
    events_file, alerts_file = tmp_path / "events.jsonl", tmp_path / "alerts.jsonl"
    events_file.write_text("\n".join(json.dumps(e) for e in events) + "\nnot json\n")
    alerts_file.write_text("\n".join(json.dumps(a) for a in alerts) + "\n")

    assert (
        main(["--events", str(events_file), "--alerts", str(alerts_file), "--out", str(tmp_path / "m.html")])
        == 0
    )

    assert (
        "3 regions, 27 sensors, 6 burning, 3 alert paths (55 readings, 1 skipped)" in capsys.readouterr().out
    )
    assert len(list(iter_jsonl(events_file))) == len(events)


def test_command_line_reads_several_files_and_skips_bytes_that_are_not_utf8(tmp_path, small_network, capsys):
    """As the demo calls it: the rolling files of a run, faults included, in one page."""
    events, alerts = small_network
    half = len(events) // 2
    first, second = tmp_path / "events-1.jsonl", tmp_path / "events-2.jsonl"
    first.write_bytes(("\n".join(json.dumps(e) for e in events[:half]) + "\n").encode() + b"\xff\xfe{\n")
    second.write_text("\n".join(json.dumps(e) for e in events[half:]) + "\n[1, 2]\n")
    alerts_file = tmp_path / "alerts.jsonl"
    alerts_file.write_text("\n".join(json.dumps(a) for a in alerts) + "\n")
    out = tmp_path / "m.html"
    assert main(["--events", str(first), str(second), "--alerts", str(alerts_file), "--out", str(out)]) == 0
    summary = "3 regions, 27 sensors, 6 burning, 3 alert paths (55 readings, 1 skipped)"
    assert summary in capsys.readouterr().out
    assert len(list(iter_jsonl(first))) + len(list(iter_jsonl(second))) == len(events)
