"""`gantry bench`: cold-start latency to ready, against a real registry.

- The results file validates against docs/bench.schema.json; every run's
  phases follow one another from 0 to its ready time; every layer's steps
  come in order; a cold run fetched the image and a warm one nothing.
- Readiness by a line of output, by a TCP port and by an HTTP URL; the
  container is stopped once ready (its port closes).
- The picture is well-formed SVG naming every layer.
- --compare runs ctr (a private containerd), podman and skopeo+umoci+runc
  the same number of times, reports their versions and the ratio to gantry.
- A suite file (-f) with quoting and ${VAR}; bad input is one error line.
"""

from __future__ import annotations

import json
import socket
import subprocess
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import jsonschema
import pytest

from gantry_testbed import images

pytestmark = pytest.mark.root("gantry bench runs containers")

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "bench.schema.json").read_text())
LAYER_STEPS = ["queued", "first_byte", "last_byte", "verified", "decoded", "applied", "committed"]


@pytest.fixture(scope="module")
def two_layers(registry_plain) -> tuple[str, images.Image]:
    """busybox and a layer of its own: a runnable image of two layers."""
    image = images.busybox_image(files={"www/index.html": "<h1>hello from the bench</h1>\n"})
    registry_plain.client.push_image("it/bench", image, tag="two")
    return registry_plain.ref("it/bench", "two"), image


def bench(gantry_bin: Path, scratch: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    argv = [str(gantry_bin), "bench", "--plain-http", "--dir", str(scratch / "work"), "--out", str(scratch / "out"),
            *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def ok(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((Path(result.args[result.args.index("--out") + 1]) / "results.json").read_text())


def one_error(result: subprocess.CompletedProcess, fragment: str) -> str:
    lines = result.stderr.splitlines()
    assert result.returncode != 0 and len(lines) == 1 and lines[0].startswith("gantry: error: "), result.stderr
    assert fragment in lines[0], lines[0]
    return lines[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_run(run: dict) -> None:
    """Phases from 0 to ready, one after another; layer steps in order."""
    phases = run["phases"]
    assert phases[0]["start"] == 0
    for before, after in zip(phases, phases[1:]):
        assert after["start"] == before["end"], phases
    assert all(p["end"] >= p["start"] for p in phases), phases
    assert phases[-1]["end"] == pytest.approx(run["ready"], abs=1e-9)
    assert sum(p["end"] - p["start"] for p in phases) == pytest.approx(run["ready"], abs=1e-6)
    if run["tool"] != "gantry":
        return
    assert [p["name"] for p in phases] == ["startup", "resolve", "layers", "mount", "exec", "ready"]
    resolve_end = phases[1]["end"]
    assert all(at <= resolve_end + 1e-6 for at in run["marks"].values()), run["marks"]
    layers_end = phases[2]["end"]
    for layer in run["layers"]:
        if run["mode"] == "cold":
            assert list(layer) == ["digest", "size", *LAYER_STEPS], layer  # a cold run does every step
        # The bytes come and are verified; decoding runs while they come.
        for chain in (["queued", "first_byte", "last_byte", "verified"],
                      ["first_byte", "decoded", "applied", "committed"]):
            steps = [layer[s] for s in chain if s in layer]
            assert steps == sorted(steps) and all(s <= layers_end + 1e-6 for s in steps), layer
    assert run["usage"]["user_seconds"] + run["usage"]["sys_seconds"] > 0
    assert 0 < run["usage"]["max_rss_bytes"] < 512 << 20  # ASan's shadow included


def test_line_readiness_gives_ordered_phases_a_picture_and_hellobench_lines(gantry_bin, scratch, two_layers):
    ref, image = two_layers
    result = bench(gantry_bin, scratch, "--runs", "2", "--warm", "--name", "two", "--ready", "line=^hello bench$",
                   ref, "--", "echo", "hello bench")
    results = ok(result)
    jsonschema.Draft202012Validator(SCHEMA).validate(results)
    [entry] = results["images"]
    assert (entry["name"], entry["reference"], entry["command"]) == ("two", ref, ["echo", "hello bench"])
    runs = entry["runs"]
    assert [(r["mode"], r["index"]) for r in runs] == [("cold", 0), ("warm", 0), ("cold", 1), ("warm", 1)]
    for run in runs:
        check_run(run)
    layer_digests = [layer.blob.digest for layer in image.layers]
    for run in runs:
        assert [layer["digest"] for layer in run["layers"]] == layer_digests
        fetched = sum(layer.blob.size for layer in image.layers)
        assert run["bytes_fetched"] == (fetched if run["mode"] == "cold" else 0), run
    cold = entry["summary"]["gantry"]["cold"]
    assert cold["runs"] == 2 and cold["min"] <= cold["median"] <= cold["max"]
    assert set(cold["phases"]) == {"startup", "resolve", "layers", "mount", "exec", "ready"}
    # The picture of the median cold run: well-formed, every layer named.
    out = scratch / "out"
    assert entry["picture"] == "two.svg" and (out / "two-warm.svg").is_file()
    svg = ElementTree.parse(out / "two.svg").getroot()
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    text = " ".join("".join(t.itertext()) for t in svg.iter("{http://www.w3.org/2000/svg}text"))
    for digest in layer_digests:
        assert digest[:7 + 12] in text, digest
    for phase in ("mount", "exec", "ready"):
        assert phase in text
    # HelloBench's lines: one per tool and mode, the medians.
    lines = [json.loads(line) for line in (out / "hellobench.jsonl").read_text().splitlines()]
    assert [(line["repo"], line["bench"], line["tool"], line["mode"]) for line in lines] == \
        [(ref, "two", "gantry", "cold"), (ref, "two", "gantry", "warm")]
    assert lines[0]["elapsed"] == cold["median"]
    assert f"picture: {out / 'two.svg'}" in result.stdout
    assert "gantry's median cold run: startup" in result.stdout


@pytest.mark.parametrize("kind", ["port", "http"])
def test_port_and_http_readiness_then_the_container_is_stopped(gantry_bin, scratch, two_layers, kind):
    ref, _ = two_layers
    port = free_port()
    ready = f"port={port}" if kind == "port" else f"http=http://127.0.0.1:{port}/index.html"
    # The server listens only after a pause, so a ready time that did not wait
    # for it cannot pass: ready comes at least the pause after exec began.
    pause = 0.5
    result = bench(gantry_bin, scratch, "--json", "--runs", "1", "--ready", ready, ref, "--",
                   "sh", "-c", f"sleep {pause}; exec busybox httpd -f -p 127.0.0.1:{port} -h /www")
    results = ok(result)
    [run] = results["images"][0]["runs"]
    check_run(run)
    exec_phase = run["phases"][-2]
    assert exec_phase["name"] == "exec" and run["ready"] >= exec_phase["start"] + pause, run["phases"]
    with pytest.raises(ConnectionRefusedError):  # stopped: nobody listens any more
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    # --json: stdout is HelloBench's lines alone.
    [line] = [json.loads(line) for line in result.stdout.splitlines()]
    assert line["bench"] == "bench" and line["elapsed"] == run["ready"]


def test_compare_runs_each_tool_and_reports_versions_and_ratios(gantry_bin, scratch, two_layers):
    ref, _ = two_layers
    tools = ["ctr", "podman", "skopeo-umoci-runc"]
    result = bench(gantry_bin, scratch, "--runs", "2", "--warm", "--cold-fs", "--fs-size", "2G",
                   "--compare", "ctr,podman", "--compare", "skopeo-umoci-runc", "--ready", "line=^compared$",
                   ref, "--", "echo", "compared")
    results = ok(result)
    jsonschema.Draft202012Validator(SCHEMA).validate(results)
    assert results["method"]["tools"] == ["gantry", *tools]
    assert {"gantry", "containerd", "ctr", "podman", "skopeo", "umoci", "runc"} <= set(results["versions"])
    assert all(v != "unknown" for v in results["versions"].values()), results["versions"]
    [entry] = results["images"]
    # Interleaved: each round runs every tool once, in the same order.
    assert [(r["tool"], r["mode"]) for r in entry["runs"]] == \
        [(t, m) for _ in range(2) for t in ["gantry", *tools] for m in ("cold", "warm")]
    for run in entry["runs"]:
        check_run(run)
    phases = {r["tool"]: [p["name"] for p in r["phases"]] for r in entry["runs"] if r["mode"] == "cold"}
    assert phases["ctr"] == ["pull", "run"] and phases["skopeo-umoci-runc"] == ["pull", "unpack", "run"]
    for tool in tools:
        for mode in ("cold", "warm"):
            expected = entry["summary"][tool][mode]["median"] / entry["summary"]["gantry"][mode]["median"]
            assert entry["ratios"][tool][mode] == pytest.approx(expected)
    table = [line.split() for line in result.stdout.splitlines()]
    assert [row[1:3] for row in table if row[:1] == ["bench"]] == \
        [[t, m] for t in ["gantry", *tools] for m in ("cold", "warm")]
    assert "freshly made ext4" in result.stdout
    # Nothing of the bench stays mounted (its filesystems, containerd's, podman's).
    assert not any(line.startswith(str(scratch)) for line in Path("/proc/mounts").read_text().split())


def test_a_suite_file_quotes_expands_and_names_its_lines(gantry_bin, scratch, two_layers):
    ref, _ = two_layers
    host, path = ref.split("/", 1)
    suite = scratch / "suite.txt"
    suite.write_text("# two images, HelloBench-style\n\n"
                     f"--name echo --ready 'line=^a b$' ${{BENCH_HOST}}/{path} -- echo \"a b\"\n"
                     f"  --name shell ${{BENCH_HOST}}/{path} -- sh -c 'test -f /www/index.html'\n")
    result = subprocess.run([str(gantry_bin), "bench", "--plain-http", "--runs", "1", "--dir", str(scratch / "w"),
                             "--out", str(scratch / "out"), "-f", str(suite)],
                            capture_output=True, text=True, timeout=600, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                                                                            "HOME": str(scratch), "BENCH_HOST": host})
    assert result.returncode == 0, result.stderr
    results = json.loads((scratch / "out" / "results.json").read_text())
    assert [(i["name"], i["command"], i["ready"]) for i in results["images"]] == [
        ("echo", ["echo", "a b"], "line=^a b$"), ("shell", ["sh", "-c", "test -f /www/index.html"], "exit")]


@pytest.mark.parametrize("line,fragment", [
    ("${UNSET_FOR_GANTRY_BENCH}/x", "suite.txt:1: ${UNSET_FOR_GANTRY_BENCH} is not set"),
    ("--ready 'line=x", "suite.txt:1: an unclosed '"),
    ("--ready port=0 127.0.0.1:1/x", "suite.txt:1: gantry bench: --ready port=0: not a port"),
    ("--name ../x 127.0.0.1:1/x", "a name is letters, digits"),
])
def test_a_bad_suite_line_is_one_error_naming_it(gantry_bin, scratch, line, fragment):
    suite = scratch / "suite.txt"
    suite.write_text(line + "\n")
    one_error(bench(gantry_bin, scratch, "-f", str(suite)), fragment)


def test_bad_runs_are_one_error_and_leave_nothing_running(gantry_bin, scratch, two_layers):
    ref, _ = two_layers
    one_error(bench(gantry_bin, scratch, "--quiet", "--runs", "1", ref, "--", "sh", "-c", "echo nope; exit 3"),
              "gantry run of bench exited with status 3 before it was ready (exit): nope")
    one_error(bench(gantry_bin, scratch, "--quiet", "--runs", "1", "--timeout", "2", "--ready", "line=never", ref,
                    "--", "sleep", "1000"), "was not ready (line=never) within 2 s")
    assert subprocess.run(["pgrep", "-f", "sleep 1000"], capture_output=True).returncode == 1
    one_error(bench(gantry_bin, scratch, "--store", str(scratch / "s"), ref), "every run makes a store of its own")
    one_error(bench(gantry_bin, scratch, "--ready", "tcp=80", ref), "--ready tcp=80: unknown kind")
    one_error(bench(gantry_bin, scratch, "--compare", "docker", ref), "--compare docker: expected ctr, podman")
    one_error(bench(gantry_bin, scratch, "--name", "a", "-f", str(scratch / "none")), "not both")
