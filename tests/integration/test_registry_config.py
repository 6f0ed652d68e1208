"""The configuration directory (--config DIR, $GANTRY_CONFIG, /etc/gantry):
containerd's certs.d/<host>/hosts.toml says how a registry is reached —
plain HTTP from the server's scheme, its CAs, a client certificate, mirrors
tried first — and the command line's flags override it. A file gantry
cannot use is one error line naming the file and line."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from gantry_testbed import certs, images
from gantry_testbed import registry as testbed
from gantry_testbed.ocistore import OciStore


def _push(registry, repo: str) -> tuple[images.Image, str]:
    image = images.rich_image()
    registry.client.push_image(repo, image, tag="v1")
    return image, registry.ref(repo, "v1")


def _assert_pulled(gantry, image: images.Image, ref: str) -> None:
    store = OciStore(gantry.store)
    assert store.wrong_blobs([image.manifest, *image.blobs()]) == []
    assert store.refs()[ref]["digest"] == image.digest


def _hosts_toml(config: Path, namespace: str, text: str) -> Path:
    """Writes CONFIG/certs.d/NAMESPACE/hosts.toml."""
    directory = config / "certs.d" / namespace
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "hosts.toml"
    path.write_text(text)
    return path


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def registry_mtls(tmp_path_factory):
    """A registry requiring a client certificate, for this file only."""
    directory = tmp_path_factory.mktemp("registry-mtls")
    info = testbed.start(directory, "mtls")
    try:
        yield info
    finally:
        testbed.stop(directory)


def test_an_http_server_makes_the_registry_plain(registry_plain, repo, gantry, scratch):
    image, ref = _push(registry_plain, repo)
    config = scratch / "config"
    _hosts_toml(config, registry_plain.host, f'server = "http://{registry_plain.host}"\n')

    line = gantry.fails("pull", ref)  # TLS by default: the flag or the file must say plain
    assert "plain HTTP server" in line, line

    gantry.ok("pull", "--config", str(config), ref)
    _assert_pulled(gantry, image, ref)


def test_ca_makes_tls_work_without_ca_file(registry_tls, repo, gantry, scratch):
    image, ref = _push(registry_tls, repo)
    config = scratch / "config"
    hosts = _hosts_toml(config, registry_tls.host, 'ca = "registry-ca.pem"\n')  # relative to hosts.toml
    (hosts.parent / "registry-ca.pem").write_bytes(Path(registry_tls.ca_file).read_bytes())

    line = gantry.fails("pull", ref)
    assert "certificate verify failed" in line, line

    gantry.ok("pull", "--config", str(config), ref)
    _assert_pulled(gantry, image, ref)


def test_a_mirror_is_asked_before_the_origin(registry_plain, repo, gantry, scratch, fault_proxy):
    """The origin named by the reference is a closed port: the pull can only
    succeed through the mirror the file lists for it."""
    image = images.rich_image()
    registry_plain.client.push_image(repo, image, tag="v1")
    mirror = fault_proxy(registry_plain)
    origin = f"127.0.0.1:{_closed_port()}"
    ref = f"{origin}/{repo}:v1"
    config = scratch / "config"
    _hosts_toml(config, origin, f'server = "http://{origin}"\n\n'
                                f'[host."http://{mirror.host}"]\n'
                                f'  capabilities = ["pull", "resolve"]\n')

    line = gantry.fails("pull", "--plain-http", ref)
    assert origin in line, line

    gantry.ok("pull", "--config", str(config), ref)
    assert mirror.requests(path=f"^/v2/{repo}/manifests/v1$")
    _assert_pulled(gantry, image, ref)


def test_mtls_registry_wants_the_client_certificate(registry_mtls, repo, gantry, scratch):
    image, ref = _push(registry_mtls, repo)
    config = scratch / "config"
    _hosts_toml(config, registry_mtls.host, f'ca = "{registry_mtls.ca_file}"\n')

    line = gantry.fails("pull", "--config", str(config), ref)
    assert registry_mtls.host in line and "client certificate" in line, line

    _hosts_toml(config, registry_mtls.host,
                f'ca = "{registry_mtls.ca_file}"\n'
                f'client = [["{registry_mtls.client_cert}", "{registry_mtls.client_key}"]]\n')
    gantry.ok("pull", "--config", str(config), ref)
    _assert_pulled(gantry, image, ref)


def test_mtls_client_certificate_and_key_in_one_file(registry_mtls, repo, gantry, scratch):
    image, ref = _push(registry_mtls, repo)
    config = scratch / "config"
    hosts = _hosts_toml(config, registry_mtls.host,
                        f'server = "https://{registry_mtls.host}"\n'
                        f'ca = "{registry_mtls.ca_file}"\n'
                        'client = "client.pem"\n')
    (hosts.parent / "client.pem").write_text(Path(registry_mtls.client_cert).read_text()
                                             + Path(registry_mtls.client_key).read_text())

    gantry.ok("pull", "--config", str(config), ref)
    _assert_pulled(gantry, image, ref)


def test_gantry_config_variable_and_the_flag_pick_the_directory(registry_plain, repo, gantry, scratch):
    image, ref = _push(registry_plain, repo)
    good, broken = scratch / "good", scratch / "broken"
    _hosts_toml(good, registry_plain.host, f'server = "http://{registry_plain.host}"\n')
    _hosts_toml(broken, registry_plain.host, "server = \n")

    gantry.ok("pull", ref, env={"GANTRY_CONFIG": str(good)})
    _assert_pulled(gantry, image, ref)
    # --config wins over the variable.
    gantry.ok("pull", "--config", str(good), ref, env={"GANTRY_CONFIG": str(broken)})
    line = gantry.fails("pull", ref, env={"GANTRY_CONFIG": str(broken)})
    assert str(broken / "certs.d") in line and "malformed TOML" in line, line

    for args, env in ((["--config", str(scratch / "missing")], {}),
                      ([], {"GANTRY_CONFIG": str(scratch / "missing")})):
        line = gantry.fails("pull", *args, ref, env=env)
        assert "no such directory" in line and str(scratch / "missing") in line, line


def test_flags_override_the_file(registry_plain, registry_tls, repo, gantry, scratch, fault_proxy):
    """--mirror for a registry replaces the file's mirrors for it; --ca-file
    adds to the file's CAs."""
    image = images.rich_image()
    registry_plain.client.push_image(repo, image, tag="v1")
    configured, given = fault_proxy(registry_plain), fault_proxy(registry_plain)
    origin = f"127.0.0.1:{_closed_port()}"
    ref = f"{origin}/{repo}:v1"
    config = scratch / "config"
    _hosts_toml(config, origin, f'server = "http://{origin}"\n[host."http://{configured.host}"]\n')

    gantry.ok("pull", "--config", str(config), "--plain-http-host", given.host,
              "--mirror", f"{origin}={given.host}", ref)
    assert configured.requests() == []
    assert given.requests(path=f"^/v2/{repo}/manifests/v1$")
    _assert_pulled(gantry, image, ref)

    tls_image, tls_ref = _push(registry_tls, repo)
    other_ca_dir = scratch / "other-ca"
    other_ca_dir.mkdir()
    other_ca, _ = certs.make_ca(other_ca_dir)
    _hosts_toml(config, registry_tls.host, f'ca = "{other_ca}"\n')
    line = gantry.fails("pull", "--config", str(config), tls_ref)
    assert "certificate verify failed" in line, line
    gantry.ok("pull", "--config", str(config), "--ca-file", registry_tls.ca_file, tls_ref)
    _assert_pulled(gantry, tls_image, tls_ref)


@pytest.mark.parametrize("text, line_no, says", [
    ('server = "http://127.0.0.1:1"\n[host\n', 2, "malformed TOML"),
    ('server = "http://127.0.0.1:1"\nmirrors = ["x"]\n', 2, 'unknown key "mirrors"'),
    ('skip_verify = true\n', 1, "gantry always verifies"),
    ('[host."https://cache.internal"]\n  capabilities = ["pull"]\n', 2, '"pull" and "resolve"'),
    ('[host."https://cache.internal/v2/upstream"]\n  override_path = true\n', 1, "path in a host URL"),
    ('[host."https://cache.internal"]\n  dial_timeout = "1s"\n', 2, "dial_timeout is not supported"),
])
def test_a_file_gantry_cannot_use_is_one_line_naming_it(gantry, scratch, text, line_no, says):
    config = scratch / "config"
    hosts = _hosts_toml(config, "127.0.0.1:1", text)

    line = gantry.fails("pull", "--config", str(config), "127.0.0.1:1/app:v1")

    assert f"{hosts}:{line_no}: " in line and says in line, line


def test_gantry_toml_is_checked_too(gantry, scratch):
    config = scratch / "config"
    config.mkdir()
    (config / "gantry.toml").write_text("jobs = 4\nmax_rates = 1\n")

    line = gantry.fails("pull", "--config", str(config), "127.0.0.1:1/app:v1")

    assert f"{config / 'gantry.toml'}:2: " in line and 'unknown key "max_rates"' in line, line
