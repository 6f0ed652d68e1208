"""Every `--json` event of real runs (pull, pull --unpack, unpack, run,
prewarm of two images with one bad) validates against docs/events.schema.json,
and the events of one run agree with each other: times only grow, every
blob event names its image and layer, the blob totals equal the done
totals. `run --json` keeps the container's stdout its own."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import jsonschema
import pytest

from gantry_testbed import images, layers, trees
from gantry_testbed.content import RandomContent
from gantry_testbed.gantry_cli import parse_events
from gantry_testbed.tarwriter import Entry

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "events.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def _layer(seed: int, size: int) -> layers.Layer:
    return layers.build_layer([Entry(f"data{seed}", data=RandomContent(size, seed))], "gzip")


def check_events(events: list[dict]) -> None:
    """Valid one by one, and consistent as a whole."""
    assert events, "no event"
    for event in events:
        errors = sorted(VALIDATOR.iter_errors(event), key=str)
        assert not errors, f"{event}: {[e.message for e in errors]}"
    times = [e["t"] for e in events]
    assert times == sorted(times), times
    for e in events:
        if e["event"].startswith("blob_"):
            assert e["image"] and e["layer"] == e["digest"], e
    # Every image the run worked on ends with its timeline, once.
    for image in {e["image"] for e in events if e["event"] in ("resolved", "image_failed")}:
        assert [e["event"] for e in events if e["image"] == image].count("timeline") == 1, image
    for image in {e["image"] for e in events if e["event"] == "done"}:
        mine = [e for e in events if e["image"] == image]
        done_bytes = sum(e["bytes_fetched"] for e in mine if e["event"] == "done")
        assert done_bytes == sum(e["fetched"] for e in mine if e["event"] == "blob_done"), image
        assert sum(e["blobs_fetched"] for e in mine if e["event"] == "done") \
            == sum(1 for e in mine if e["event"] == "blob_done" and not e["cached"]), image


@pytest.fixture
def image_ref(registry_plain, repo):
    image = images.build_image([_layer(31, 64 << 10), _layer(32, 8 << 10)])
    registry_plain.client.push_image(repo, image, tag="v1")
    return registry_plain.ref(repo, "v1"), image


def test_pull_events_validate(gantry, image_ref):
    ref, image = image_ref
    run = gantry.ok("pull", "--plain-http", "--json", ref)
    check_events(run.events)
    assert [e["event"] for e in run.events][0] == "resolved"


def test_pull_unpack_events_validate(gantry, image_ref):
    ref, image = image_ref
    run = gantry.ok("pull", "--plain-http", "--unpack", "--json", ref)
    check_events(run.events)
    [unpacked] = run.of("unpacked")
    assert unpacked["image"] == ref and unpacked["layers_unpacked"] == len(image.layers)


def test_the_timeline_of_pull_unpack_has_every_layer_phase_in_order(gantry, image_ref):
    ref, image = image_ref
    run = gantry.ok("pull", "--plain-http", "--unpack", "--json", ref)
    [timeline] = run.of("timeline")
    assert timeline["image"] == ref
    names = [e["event"] for e in run.events]
    assert names[-3:] == ["done", "timeline", "unpacked"], names
    image_at = timeline["at"]
    assert list(image_at) == ["resolve", "auth", "manifest", "config"], image_at
    assert timeline["submitted"] <= image_at["auth"] <= image_at["manifest"] <= image_at["config"] \
        <= image_at["resolve"] <= timeline["t"]
    assert [layer["digest"] for layer in timeline["layers"]] == [layer.blob.digest for layer in image.layers]
    order = ["queued", "first_byte", "last_byte", "verified", "decoded", "applied", "committed"]
    for layer in timeline["layers"]:
        assert list(layer["at"]) == order, layer  # all reached, named in order
        # The bytes come, are verified, and the layer is decoded, applied,
        # committed in that order (decoding runs while the bytes come).
        at = layer["at"]
        assert at["queued"] <= at["first_byte"] <= at["last_byte"] <= at["verified"], layer
        assert at["first_byte"] <= at["decoded"] <= at["applied"] <= at["committed"] <= timeline["t"], layer
        # Waiting is part of the layer's life, not more than it.
        assert sum(layer["waited"].values()) <= 3 * (at["committed"] - timeline["submitted"]), layer


def test_the_timeline_of_a_second_pull_has_no_download(gantry, image_ref):
    ref, image = image_ref
    gantry.ok("pull", "--plain-http", "--unpack", "--quiet", ref)
    [timeline] = gantry.ok("pull", "--plain-http", "--json", ref).of("timeline")
    for layer in timeline["layers"]:
        assert "first_byte" not in layer["at"] and "last_byte" not in layer["at"], layer


def test_unpack_events_validate_and_announce_resolved(gantry, image_ref, tmp_path):
    ref, image = image_ref
    run = gantry.ok("unpack", "--plain-http", "--json", ref, str(tmp_path / "rootfs"))
    check_events(run.events)
    [resolved] = run.of("resolved")
    assert resolved["image"] == ref and resolved["digest"] == image.digest
    assert run.events.index(resolved) < min(i for i, e in enumerate(run.events) if e["event"] == "blob_done")


def test_prewarm_with_a_bad_image_events_validate(gantry, image_ref, registry_plain, repo):
    ref, image = image_ref
    missing = registry_plain.ref(repo, "missing")
    run = gantry.run("prewarm", "--plain-http", "--json", ref, missing)
    assert run.returncode != 0, run.describe()
    check_events(run.events)
    [failed] = run.of("image_failed")
    assert failed["image"] == missing and failed["kind"] == "not-found"
    [summary] = run.of("summary")
    assert (summary["ok"], summary["failed"]) == (1, 1)
    assert run.events[-1] == summary


@pytest.fixture
def busybox_ref(registry_plain, repo):
    config = images.ImageConfig(cmd=("sh", "-c", "echo out; echo err >&2"), env=(images.DEFAULT_PATH,))
    image = images.build_image([layers.build_layer(trees.busybox_entries())], config=config)
    registry_plain.client.push_image(repo, image, tag="run")
    return registry_plain.ref(repo, "run")


def _run(gantry, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(gantry.argv("run", "--plain-http", *args), capture_output=True, text=True,
                          timeout=120, env=gantry.env, stdin=subprocess.DEVNULL)


@pytest.mark.root("gantry run needs root")
def test_run_json_events_go_to_stderr_and_stdout_is_the_containers(gantry, busybox_ref):
    result = _run(gantry, "--json", busybox_ref)
    assert (result.returncode, result.stdout) == (0, "out\n"), result.stderr
    lines = result.stderr.splitlines()
    assert "err" in lines
    events = parse_events("\n".join(line for line in lines if line.startswith("{")))
    check_events(events)
    assert [e["image"] for e in events if e["event"] == "resolved"] == [busybox_ref]


@pytest.mark.root("gantry run needs root")
def test_run_json_file_takes_the_events(gantry, busybox_ref, tmp_path):
    path = tmp_path / "events.jsonl"
    result = _run(gantry, "--json-file", str(path), busybox_ref)
    assert (result.returncode, result.stdout, result.stderr) == (0, "out\n", "err\n")
    events = parse_events(path.read_text())
    check_events(events)
    assert {e["event"] for e in events} >= {"resolved", "blob_done", "done"}
    # The launch after the image's timeline, gantry's own usage last; the
    # origin places the events on this process's monotonic clock.
    [timeline], [launched], [exited] = (_of(events, name) for name in ("timeline", "launched", "exited"))
    assert events.index(timeline) < events.index(launched) and events[-1] == exited
    assert launched["t"] >= launched["exec_seconds"] + launched["mount_seconds"] >= 0
    assert 0 < launched["monotonic_origin"] + launched["t"] < time.monotonic()
    assert exited["status"] == 0 and exited["user_seconds"] + exited["sys_seconds"] > 0
    assert 1 << 20 < exited["max_rss_bytes"] < 256 << 20


def _of(events: list[dict], name: str) -> list[dict]:
    return [e for e in events if e["event"] == name]


@pytest.mark.root("gantry run needs root")
def test_run_timing_is_a_table_of_the_timeline(gantry, busybox_ref):
    result = _run(gantry, "--quiet", "--timing", busybox_ref)
    assert (result.returncode, result.stdout) == (0, "out\n"), result.stderr
    rows = [line.split()[1:] for line in result.stderr.splitlines() if line.startswith("timing: ")]
    names = [" ".join(r[:-2]) for r in rows[1:-2]]
    assert names == ["resolved", "first byte", "last byte", "verified", "applied", "committed",
                     "unpacked", "mounted", "exec"]
    at = [float(r[-2]) for r in rows[1:-2]]
    assert at == sorted(at) and all(float(r[-1]) >= 0 for r in rows[1:-2])
    assert "1 of 1 layers unpacked" in result.stderr
    waits = re.fullmatch(r"timing: layers waited for network ([0-9.]+) s, decoder ([0-9.]+) s, applier ([0-9.]+) s",
                         result.stderr.splitlines()[-1])
    assert waits, result.stderr
    assert all(float(w) <= at[-1] for w in waits.groups())  # one layer: no more than its whole start
