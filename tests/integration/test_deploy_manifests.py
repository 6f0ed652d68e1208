"""deploy/kubernetes: the manifests are well formed and agree with each other
and with the CLI, and the DaemonSet's init container really does its job.

No cluster here, so the pod's world is rebuilt from the manifests: the
ConfigMap projected as the kubelet projects it (timestamped directory,
`..data` symlink, one symlink per top-level name), the init container's
environment and its capability set (setpriv), a real containerd on a private
socket in the place of the node's, and the test registry (behind a fault
proxy as the mirror) in the place of Docker Hub and its cache: the hosts.toml
is the ConfigMap's, its URLs rewritten to loopback."""

from __future__ import annotations

import os
import re
import secrets
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from gantry_testbed import images
from gantry_testbed.containerd import ctr

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "kubernetes"
MANIFESTS = ["namespace.yaml", "configmap.yaml", "daemonset.yaml"]
# The smallest memory limit the init container may have: gantry's own bound.
GANTRY_MEMORY_BOUND = 256 << 20


def load(name: str) -> dict:
    [doc] = list(yaml.safe_load_all((DEPLOY / name).read_text()))
    return doc


@pytest.fixture(scope="module")
def manifests() -> dict[str, dict]:
    return {doc["kind"]: doc for doc in map(load, MANIFESTS)}


@pytest.fixture(scope="module")
def pod(manifests) -> dict:
    return manifests["DaemonSet"]["spec"]["template"]["spec"]


@pytest.fixture(scope="module")
def prewarm(pod) -> dict:
    [container] = pod["initContainers"]
    return container


def env_of(container: dict) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["env"]}


def mount(container: dict, volume: str) -> dict:
    [found] = [m for m in container["volumeMounts"] if m["name"] == volume]
    return found


def volume(pod: dict, name: str) -> dict:
    [found] = [v for v in pod["volumes"] if v["name"] == name]
    return found


def memory_bytes(quantity: str) -> int:
    number, unit = re.fullmatch(r"(\d+)(Ki|Mi|Gi)?", quantity).groups()
    return int(number) << {None: 0, "Ki": 10, "Mi": 20, "Gi": 30}[unit]


# --- the manifests among themselves ---------------------------------------------------


def test_every_object_is_named_and_lives_in_the_namespace_made_for_it(manifests):
    assert sorted(manifests) == ["ConfigMap", "DaemonSet", "Namespace"]
    namespace = manifests["Namespace"]["metadata"]["name"]
    for kind, doc in manifests.items():
        assert doc["apiVersion"] == {"Namespace": "v1", "ConfigMap": "v1", "DaemonSet": "apps/v1"}[kind]
        assert doc["metadata"]["name"], kind
        if kind != "Namespace":
            assert doc["metadata"]["namespace"] == namespace, kind


def test_the_daemonset_selects_its_own_pods_on_every_node(manifests, pod):
    spec = manifests["DaemonSet"]["spec"]
    labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    assert {"operator": "Exists"} in pod["tolerations"]
    assert pod.get("restartPolicy", "Always") == "Always"  # a DaemonSet's pods
    for container in pod["initContainers"] + pod["containers"]:
        assert container["image"] and container["resources"]["limits"]["memory"], container["name"]


def test_every_mount_has_its_volume_and_every_projected_key_exists(manifests, pod, prewarm):
    names = {v["name"] for v in pod["volumes"]}
    for container in pod["initContainers"] + pod["containers"]:
        for m in container.get("volumeMounts", []):
            assert m["name"] in names, m
    config = volume(pod, "config")["configMap"]
    assert config["name"] == manifests["ConfigMap"]["metadata"]["name"]
    data = manifests["ConfigMap"]["data"]
    assert sorted(item["key"] for item in config["items"]) == sorted(data)


def test_the_init_container_runs_the_projected_script_with_gantrys_places(pod, prewarm):
    env = env_of(prewarm)
    config_dir = mount(prewarm, "config")["mountPath"]
    assert env["GANTRY_CONFIG"] == config_dir
    script = {item["key"]: item["path"] for item in volume(pod, "config")["configMap"]["items"]}["prewarm.sh"]
    assert prewarm["command"] == ["/bin/bash", f"{config_dir}/{script}"]
    store = volume(pod, "store")["hostPath"]["path"]
    assert env["GANTRY_STORE"] == mount(prewarm, "store")["mountPath"] == store
    socket = volume(pod, "containerd-socket")["hostPath"]
    assert socket["type"] == "Socket"
    assert env["CONTAINERD_ADDRESS"] == mount(prewarm, "containerd-socket")["mountPath"] == socket["path"]
    assert env["CONTAINERD_NAMESPACE"] == "k8s.io"  # where the kubelet's CRI looks
    assert memory_bytes(prewarm["resources"]["limits"]["memory"]) >= GANTRY_MEMORY_BOUND
    security = prewarm["securityContext"]
    assert security["privileged"] is False and security["capabilities"]["drop"] == ["ALL"]


def test_the_image_is_the_one_the_dockerfile_and_the_readme_name(prewarm):
    image = prewarm["image"]
    assert f"-t {image} ." in (DEPLOY / "Dockerfile").read_text()
    assert image in (DEPLOY / "README.md").read_text()


def test_the_dockerfile_installs_the_packages_of_what_it_copies(gantry_bin):
    """The runtime stage installs what tools/runtime-packages finds for the
    binaries the stage copies; for the binaries built here that is a list of
    installed Debian packages covering every library they load."""
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    binaries = [gantry_bin.name, "gantry-init"]
    built = " ".join(f"build/{name}" for name in binaries)
    assert f"tools/runtime-packages {built} > build/runtime-packages" in dockerfile
    assert f"COPY --from=build {' '.join(f'/src/build/{name}' for name in binaries)} /usr/local/bin/" in dockerfile
    assert "xargs -a /tmp/runtime-packages apt-get install -y --no-install-recommends containerd ca-certificates" \
        in dockerfile
    tool = ROOT / "tools" / "runtime-packages"
    listed = subprocess.run([str(tool), str(gantry_bin), str(gantry_bin.parent / "gantry-init")],
                            capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    packages = listed.stdout.split()
    assert {"libc6", "libssl3", "libarchive13", "libseccomp2"} <= set(packages), packages
    for package in packages:
        status = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
        assert status.stdout == "install ok installed", package
    static = subprocess.run([str(tool), str(gantry_bin.parent / "gantry-init")], capture_output=True, text=True)
    assert (static.returncode, static.stdout) == (0, "")  # run's init is static
    missing = subprocess.run([str(tool), str(gantry_bin.parent / "no-such-binary")], capture_output=True, text=True)
    assert missing.returncode != 0 and "no such file" in missing.stderr


def test_the_scripts_gantry_options_are_the_clis(manifests, gantry_bin):
    script = manifests["ConfigMap"]["data"]["prewarm.sh"]
    commands = [shlex.split(line.split("|")[0]) for line in script.splitlines() if line.strip().startswith("gantry ")]
    assert [c[1] for c in commands] == ["prewarm", "export"]
    for argv in commands:
        usage = subprocess.run([str(gantry_bin), argv[1], "--help"], capture_output=True, text=True).stdout
        for word in argv[2:]:
            if word.startswith("-"):
                assert re.search(rf"(^|[\s,]){re.escape(word)}\b", usage, re.M), f"{word} not in `gantry {argv[1]} --help`"


# --- the init container at work -----------------------------------------------------


def project_configmap(configmap: dict, items: list[dict], target: Path) -> None:
    """As the kubelet's atomic writer lays out a configMap volume."""
    data = target / "..2026_12_03_00_00_00.000000000"
    for item in items:
        path = data / item["path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(configmap["data"][item["key"]])
    (target / "..data").symlink_to(data.name)
    for top in sorted({item["path"].split("/")[0] for item in items}):
        (target / top).symlink_to(f"..data/{top}")


def capability_set(prewarm: dict) -> str:
    """setpriv's --bounding-set/--inh-caps form of the container's capabilities."""
    added = ",".join(f"+{cap.lower()}" for cap in prewarm["securityContext"]["capabilities"]["add"])
    return f"-all,{added}"


@pytest.fixture
def node(manifests, pod, prewarm, registry_plain, fault_proxy, containerd, gantry, scratch):
    """The pod's world on this machine; `run()` runs the init container's
    command in it. The list's images are pushed under their Docker Hub
    names (one with every entry kind the test bed makes: devices, set-uid,
    file capabilities, whiteouts) to the test registry."""
    configmap = manifests["ConfigMap"]
    refs = [line.split("#")[0].strip() for line in configmap["data"]["images"].splitlines()]
    refs = [ref for ref in refs if ref]
    assert len(refs) >= 2
    pushed = {}
    for i, ref in enumerate(refs):
        image = images.rich_image() if i == 0 else images.busybox_image(files={"etc/which": f"{ref}\n"})
        repo, tag = ref.removeprefix("docker.io/").rsplit(":", 1)
        registry_plain.client.push_image(repo, image, tag=tag)
        pushed[ref] = image
    mirror = fault_proxy(registry_plain)

    config = scratch / "etc-gantry"
    config.mkdir()
    items = volume(pod, "config")["configMap"]["items"]
    hosts = configmap["data"]["docker.io.hosts.toml"]
    [server] = re.findall(r'^server = "(\S+)"', hosts, re.M)
    [cache] = re.findall(r'^\[host\."(\S+)"\]', hosts, re.M)
    loopback = {**configmap, "data": {**configmap["data"],
                                      "docker.io.hosts.toml": hosts.replace(server, registry_plain.url)
                                                                   .replace(cache, mirror.url)}}
    project_configmap(loopback, items, config)

    bin_dir = scratch / "bin"
    bin_dir.mkdir()
    (bin_dir / "gantry").symlink_to(gantry.binary)
    env = {**gantry.env, **env_of(prewarm),
           "PATH": f"{bin_dir}:{os.environ['PATH']}",
           "GANTRY_CONFIG": str(config), "GANTRY_STORE": str(gantry.store),
           "CONTAINERD_ADDRESS": str(containerd)}
    config_mount = mount(prewarm, "config")["mountPath"]
    command = [arg.replace(config_mount, str(config)) for arg in prewarm["command"]]
    caps = capability_set(prewarm)

    class Node:
        images = pushed
        namespace = env["CONTAINERD_NAMESPACE"]
        socket = containerd
        proxy = mirror
        config_dir = config

        def run(self) -> subprocess.CompletedProcess:
            return subprocess.run(["setpriv", f"--bounding-set={caps}", f"--inh-caps={caps}", "--", *command],
                                  env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)

    return Node()


needs_root = pytest.mark.root("containerd, and unpacking as the image's owners, need root")


@needs_root
def test_the_init_container_puts_every_image_in_containerd_through_the_mirror(node, gantry):
    result = node.run()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "prewarm: every image of" in result.stdout
    listed = ctr(node.socket, node.namespace, "images", "ls").splitlines()[1:]
    assert sorted(line.split()[:3:2] for line in listed) == sorted(
        [ref, image.digest] for ref, image in node.images.items())
    for line in ctr(node.socket, node.namespace, "images", "check").splitlines()[1:]:
        assert "complete" in line, line
    # Everything came through the mirror the hosts.toml names.
    for image in node.images.values():
        for layer in image.layers:
            assert node.proxy.requests(path=f"/blobs/{layer.blob.digest}"), layer.blob.digest
    # The snapshots gantry run uses are on the node: a second prewarm (the
    # pod restarted) fetches nothing.
    again = gantry.ok("prewarm", "--unpack", "--json", "--config", str(node.config_dir),
                      *node.images).of("summary")
    assert [image["bytes_fetched"] for image in again[0]["images"]] == [0] * len(node.images), again


@needs_root
def test_a_bad_image_in_the_list_fails_the_init_container_naming_it(node, registry_plain):
    listing = node.config_dir / "..data" / "images"
    missing = f"docker.io/library/missing-{secrets.token_hex(4)}:1"
    listing.write_text(listing.read_text() + f"{missing}\n")
    result = node.run()
    assert result.returncode != 0
    assert missing in result.stderr, result.stderr
    assert "prewarm: every image of" not in result.stdout
