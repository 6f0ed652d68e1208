"""`gantry pull` through an HTTP proxy named by HTTPS_PROXY / HTTP_PROXY:
https registries through a CONNECT tunnel (the proxy sees the CONNECT line,
never the registry's Authorization), plain ones as absolute-form requests;
NO_PROXY sends a registry direct; proxy credentials from the URL answer a
proxy's 407; a proxy that is not there is one error line naming it."""

from __future__ import annotations

import socket

import pytest

from gantry_testbed import images
from gantry_testbed.httpproxy import HttpProxy
from gantry_testbed.ocistore import OciStore
from test_pull_tls_auth import write_docker_config


@pytest.fixture
def http_proxy():
    """A factory: http_proxy(username=, password=) starts an HttpProxy,
    stopped after the test. A failure inside a proxy fails the test."""
    started: list[HttpProxy] = []

    def start(**credentials) -> HttpProxy:
        proxy = HttpProxy(**credentials).start()
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()
    errors = [e for proxy in started for e in proxy.errors]
    assert not errors, "http proxy failed:\n" + "\n".join(errors)


def _push(registry, repo: str) -> tuple[images.Image, str]:
    image = images.rich_image()
    registry.client.push_image(repo, image, tag="v1")
    return image, registry.ref(repo, "v1")


def _assert_pulled(gantry, image: images.Image, ref: str) -> None:
    store = OciStore(gantry.store)
    assert store.wrong_blobs([image.manifest, *image.blobs()]) == []
    assert store.refs()[ref]["digest"] == image.digest


def _assert_only_tunnels_to(proxy: HttpProxy, registry) -> None:
    assert proxy.requests, "nothing went through the proxy"
    for record in proxy.requests:
        assert record.request_line == f"CONNECT {registry.host} HTTP/1.1", record
        assert record.header("Authorization") is None, record


@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "https_proxy"])
def test_pull_from_a_tls_registry_through_a_connect_tunnel(registry_tls, repo, gantry, http_proxy, variable):
    image, ref = _push(registry_tls, repo)
    proxy = http_proxy()

    gantry.ok("pull", "--ca-file", registry_tls.ca_file, ref, env={variable: proxy.url})

    _assert_only_tunnels_to(proxy, registry_tls)
    _assert_pulled(gantry, image, ref)


def test_registry_credentials_stay_inside_the_tunnel(registry_auth, repo, gantry, scratch, http_proxy):
    image, ref = _push(registry_auth, repo)
    config = write_docker_config(scratch / "auth.json", registry_auth.host,
                                 registry_auth.username, registry_auth.password)
    proxy = http_proxy()

    gantry.ok("pull", "--ca-file", registry_auth.ca_file, "--auth-file", str(config), ref,
              env={"HTTPS_PROXY": proxy.url})

    _assert_only_tunnels_to(proxy, registry_auth)
    seen = repr([(r.request_line, r.headers) for r in proxy.requests])
    assert registry_auth.password not in seen
    _assert_pulled(gantry, image, ref)


def test_pull_from_a_plain_registry_in_absolute_form(registry_plain, repo, gantry, http_proxy):
    image, ref = _push(registry_plain, repo)
    proxy = http_proxy()

    gantry.ok("pull", "--plain-http", ref, env={"HTTP_PROXY": proxy.url, "HTTPS_PROXY": "http://127.0.0.1:9"})

    assert proxy.requests
    for record in proxy.requests:
        assert record.target.startswith(f"http://{registry_plain.host}/v2/"), record
        assert record.header("Host") == registry_plain.host
    _assert_pulled(gantry, image, ref)


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "*", "example.com, 127.0.0.1:{port}"])
def test_no_proxy_sends_the_registry_direct(registry_tls, repo, gantry, http_proxy, no_proxy):
    image, ref = _push(registry_tls, repo)
    proxy = http_proxy()
    port = registry_tls.host.rsplit(":", 1)[1]

    gantry.ok("pull", "--ca-file", registry_tls.ca_file, ref,
              env={"HTTPS_PROXY": proxy.url, "NO_PROXY": no_proxy.format(port=port)})

    assert proxy.requests == []
    _assert_pulled(gantry, image, ref)


def test_proxy_credentials_from_the_url_answer_its_407(registry_tls, repo, gantry, http_proxy):
    image, ref = _push(registry_tls, repo)
    proxy = http_proxy(username="proxyuser", password="proxypass")

    line = gantry.fails("pull", "--ca-file", registry_tls.ca_file, ref, env={"HTTPS_PROXY": proxy.url})
    assert f"proxy {proxy.authority} refused CONNECT to {registry_tls.host}: 407" in line
    assert all(r.header("Proxy-Authorization") is None for r in proxy.requests)

    gantry.ok("pull", "--ca-file", registry_tls.ca_file, ref,
              env={"HTTPS_PROXY": proxy.url_with("proxyuser", "proxypass")})
    granted = [r for r in proxy.requests if r.header("Proxy-Authorization")]
    assert granted and all(r.method == "CONNECT" for r in granted)
    _assert_pulled(gantry, image, ref)


def test_a_dead_proxy_is_one_line_naming_it(registry_tls, repo, gantry):
    _, ref = _push(registry_tls, repo)
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    line = gantry.fails("pull", "--ca-file", registry_tls.ca_file, ref,
                        env={"HTTPS_PROXY": f"http://127.0.0.1:{port}"})

    assert f"connect to proxy 127.0.0.1:{port}" in line


@pytest.mark.parametrize("url, why", [("https://127.0.0.1:3128", "TLS"), ("socks5://127.0.0.1:1080", "SOCKS")])
def test_unsupported_proxies_are_refused(registry_tls, repo, gantry, url, why):
    _, ref = _push(registry_tls, repo)

    line = gantry.fails("pull", "--ca-file", registry_tls.ca_file, ref, env={"HTTPS_PROXY": url})

    assert "HTTPS_PROXY" in line and why in line
