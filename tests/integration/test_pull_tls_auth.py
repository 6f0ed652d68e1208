"""`gantry pull` over TLS with the test bed's CA, and over TLS + Basic auth
with credentials from every place a docker config.json is looked for. A
certificate nobody vouches for, missing or wrong credentials, and a TLS
client meeting a plain server each fail with one error line."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from gantry_testbed import images
from gantry_testbed.ocistore import OciStore


def _push(registry, repo: str) -> tuple[images.Image, str]:
    image = images.rich_image()
    registry.client.push_image(repo, image, tag="v1")
    return image, registry.ref(repo, "v1")


def _assert_pulled(store_root: Path, image: images.Image, ref: str) -> None:
    store = OciStore(store_root)
    assert store.wrong_blobs([image.manifest, *image.blobs()]) == []
    assert store.refs()[ref]["digest"] == image.digest


def _assert_nothing_named(store_root: Path) -> None:
    store = OciStore(store_root)
    assert not (store_root / "index.json").exists() or store.refs() == {}


def write_docker_config(path: Path, host: str, username: str, password: str) -> Path:
    """A docker config.json with base64 "auth" for `host`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    path.write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    return path


def test_pull_over_tls_with_the_ca(registry_tls, repo, gantry):
    image, ref = _push(registry_tls, repo)

    gantry.ok("pull", "--ca-file", registry_tls.ca_file, ref)

    _assert_pulled(gantry.store, image, ref)


def test_pull_over_tls_by_host_name(registry_tls, repo, gantry):
    """The test bed's certificate names IP:127.0.0.1 and DNS:localhost: by
    address the IP is verified (and no SNI sent, RFC 6066 §3), by name the
    DNS name is."""
    image, _ = _push(registry_tls, repo)
    ref = registry_tls.ref(repo, "v1").replace("127.0.0.1:", "localhost:", 1)

    gantry.ok("pull", "--ca-file", registry_tls.ca_file, ref)

    _assert_pulled(gantry.store, image, ref)


def test_pull_over_tls_without_the_ca_fails(registry_tls, repo, gantry):
    _, ref = _push(registry_tls, repo)

    line = gantry.fails("pull", ref)

    assert "certificate verify failed" in line and registry_tls.host in line
    _assert_nothing_named(gantry.store)


def test_tls_is_not_silently_dropped_for_a_plain_registry(registry_plain, repo, gantry):
    _, ref = _push(registry_plain, repo)

    line = gantry.fails("pull", ref)

    assert "TLS" in line and registry_plain.host in line
    _assert_nothing_named(gantry.store)


AUTH_SOURCES = ["--auth-file", "REGISTRY_AUTH_FILE", "DOCKER_CONFIG", "HOME"]


def _hand_over(source: str, gantry, scratch: Path) -> tuple[Path, list[str], dict[str, str]]:
    """Where the config.json goes for `source`, and the flags and environment
    that make gantry read it from there."""
    if source == "--auth-file":
        path = scratch / "auth.json"
        return path, ["--auth-file", str(path)], {}
    if source == "REGISTRY_AUTH_FILE":
        path = scratch / "auth.json"
        return path, [], {"REGISTRY_AUTH_FILE": str(path)}
    if source == "DOCKER_CONFIG":
        path = scratch / "docker-config" / "config.json"
        return path, [], {"DOCKER_CONFIG": str(path.parent)}
    assert source == "HOME"
    return Path(gantry.env["HOME"]) / ".docker" / "config.json", [], {}


@pytest.mark.parametrize("source", AUTH_SOURCES)
def test_pull_with_basic_auth(registry_auth, repo, gantry, scratch, source):
    image, ref = _push(registry_auth, repo)
    path, flags, env = _hand_over(source, gantry, scratch)
    write_docker_config(path, registry_auth.host, registry_auth.username, registry_auth.password)

    gantry.ok("pull", "--ca-file", registry_auth.ca_file, *flags, ref, env=env)

    _assert_pulled(gantry.store, image, ref)


@pytest.mark.parametrize("source", ["--auth-file", "REGISTRY_AUTH_FILE"])
def test_pull_with_wrong_credentials_fails(registry_auth, repo, gantry, scratch, source):
    _, ref = _push(registry_auth, repo)
    path, flags, env = _hand_over(source, gantry, scratch)
    write_docker_config(path, registry_auth.host, registry_auth.username,
                        "not-" + registry_auth.password)

    line = gantry.fails("pull", "--ca-file", registry_auth.ca_file, *flags, ref, env=env)

    assert "401" in line and "wrong credentials" in line
    _assert_nothing_named(gantry.store)


def test_pull_without_credentials_fails(registry_auth, repo, gantry):
    _, ref = _push(registry_auth, repo)

    line = gantry.fails("pull", "--ca-file", registry_auth.ca_file, ref)

    assert "401" in line and "no credentials" in line
    _assert_nothing_named(gantry.store)


def test_credentials_for_another_host_are_not_used(registry_auth, repo, gantry, scratch):
    _, ref = _push(registry_auth, repo)
    config = write_docker_config(scratch / "auth.json", "127.0.0.2:5000",
                                 registry_auth.username, registry_auth.password)

    line = gantry.fails("pull", "--ca-file", registry_auth.ca_file, "--auth-file", str(config), ref)

    assert "401" in line


def _credential_helper(directory: Path, username: str, password: str) -> Path:
    """docker-credential-gantrytest in `directory`: answers `get` with the
    credentials (docker-credential-helpers protocol) and logs the server it
    was asked about to its .log file."""
    directory.mkdir(parents=True, exist_ok=True)
    helper = directory / "docker-credential-gantrytest"
    answer = json.dumps({"Username": username, "Secret": password})
    helper.write_text(
        "#!/usr/bin/python3\n"
        "import sys\n"
        f"assert sys.argv[1:] == ['get'], sys.argv\n"
        f"open({str(helper) + '.log'!r}, 'a').write(sys.stdin.read())\n"
        f"print({answer!r})\n")
    helper.chmod(0o755)
    return helper


@pytest.mark.parametrize("key", ["credHelpers", "credsStore"])
def test_pull_with_a_credential_helper(registry_auth, repo, gantry, scratch, key):
    image, ref = _push(registry_auth, repo)
    helper = _credential_helper(scratch / "bin", registry_auth.username, registry_auth.password)
    config = scratch / "auth.json"
    entry = {"credHelpers": {registry_auth.host: "gantrytest"}} if key == "credHelpers" \
        else {"credsStore": "gantrytest", "auths": {registry_auth.host: {}}}
    config.write_text(json.dumps(entry))
    path = f"{helper.parent}:{gantry.env['PATH']}"

    gantry.ok("pull", "--ca-file", registry_auth.ca_file, "--auth-file", str(config), ref,
              env={"PATH": path})

    asked = Path(str(helper) + ".log").read_text().split()
    assert asked and set(asked) == {registry_auth.host}
    _assert_pulled(gantry.store, image, ref)
