"""The three registry modes are what they claim: plain HTTP, TLS that only
the test bed's CA verifies (for 127.0.0.1 and localhost), and TLS + Basic auth
that turns away missing or wrong credentials with 401."""

from __future__ import annotations

import os
import ssl
import urllib.error
from pathlib import Path

import pytest

from gantry_testbed import images
from gantry_testbed.push import RegistryClient, RegistryError


def test_state_file_describes_the_running_registry(registry):
    host, port = registry.host.split(":")
    assert host == "127.0.0.1" and 0 < int(port) < 65536
    scheme = "http" if registry.mode == "plain" else "https"
    assert registry.url == f"{scheme}://{registry.host}"
    assert Path(f"/proc/{registry.pid}").exists()
    assert Path(registry.storage).is_dir()
    assert (registry.ca_file is None) == (registry.mode == "plain")
    assert (registry.username is None) == (registry.mode != "auth")
    assert (registry.password is None) == (registry.mode != "auth")


def test_v2_answers_with_the_state_files_credentials(registry):
    assert registry.client.ping() == 200


def test_pushed_blob_lands_in_the_storage_directory(registry, repo):
    image = images.platform_image(images.Platform.host())
    registry.client.push_image(repo, image)
    path = registry.blob_data_path(image.config.digest)
    assert path.read_bytes() == image.config.data


@pytest.mark.parametrize("mode", ["tls", "auth"])
def test_tls_without_the_ca_fails_verification(request, mode):
    info = request.getfixturevalue(f"registry_{mode}")
    with pytest.raises(urllib.error.URLError) as caught:
        RegistryClient(info.url).ping()
    assert isinstance(caught.value.reason, ssl.SSLCertVerificationError)


def test_tls_verifies_for_localhost_too(registry_tls):
    port = registry_tls.host.split(":")[1]
    assert RegistryClient(f"https://localhost:{port}", registry_tls.ca_file).ping() == 200


def test_plain_http_to_a_tls_registry_is_refused(registry_tls):
    response = RegistryClient(f"http://{registry_tls.host}").request("GET", "/v2/")
    assert response.status == 400  # Go's "client sent an HTTP request to an HTTPS server"


@pytest.mark.parametrize("username,password", [(None, None), ("gantry", "wrong"),
                                               ("nobody", "wrong")])
def test_auth_turns_away_bad_credentials(registry_auth, username, password):
    client = RegistryClient(registry_auth.url, registry_auth.ca_file, username, password)
    response = client.request("GET", "/v2/")
    assert response.status == 401
    assert response.header("WWW-Authenticate").startswith("Basic realm=")


def test_auth_guards_pushes_and_reads(registry_auth, repo):
    image = images.platform_image(images.Platform.host())
    registry_auth.client.push_image(repo, image, tag="t")
    anonymous = RegistryClient(registry_auth.url, registry_auth.ca_file)
    assert anonymous.request("GET", f"/v2/{repo}/manifests/t").status == 401
    assert anonymous.request("GET", f"/v2/{repo}/blobs/{image.config.digest}").status == 401
    wrong = RegistryClient(registry_auth.url, registry_auth.ca_file, "gantry", "wrong")
    with pytest.raises(RegistryError) as caught:
        wrong.push_image(repo + "-2", image)
    assert caught.value.response.status == 401


def test_state_lives_under_the_testbed_dir_in_ctest(registry):
    base = os.environ.get("GANTRY_TESTBED_DIR")
    if base is None:
        pytest.skip("run outside ctest: registries live in pytest's tmp dirs")
    assert Path(registry.storage) == Path(base).resolve() / registry.mode / "storage"
