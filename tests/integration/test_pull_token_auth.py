"""`gantry pull` against a registry that wants Bearer tokens (the fault
proxy in front of the plain registry, with a token server that checks the
service, the credentials and the scope), and through a 307 to a blob store on
another origin, which must never see the registry's credentials."""

from __future__ import annotations

import base64
import json
import secrets

import pytest

from gantry_testbed import images
from gantry_testbed.faultproxy import Action, Redirect
from gantry_testbed.ocistore import OciStore
from gantry_testbed.tokenserver import TokenServer

USER = "alice"


def _push(registry, repo: str, tag: str = "v1") -> images.Image:
    image = images.rich_image()
    registry.client.push_image(repo, image, tag=tag)
    return image


def _auth_file(scratch, host: str, user: str, password: str) -> str:
    path = scratch / "auth.json"
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    path.write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    return str(path)


def _assert_pulled(gantry, image: images.Image, ref: str) -> None:
    store = OciStore(gantry.store)
    assert store.wrong_blobs([image.manifest, *image.blobs()]) == []
    assert store.refs()[ref]["digest"] == image.digest


def _bearer_proxy(fault_proxy, token_server, registry, **settings):
    tokens = token_server(**settings)
    proxy = fault_proxy(registry)
    proxy.require_bearer(tokens)
    return proxy, tokens


def _assert_every_request_was_authorised(proxy, tokens: TokenServer, repos: list[str]) -> None:
    """Only the /v2/ ping went without a token; every request for a
    repository carried one the token server issued for that repository."""
    for record in proxy.requests():
        if record.path == "/v2/":
            continue
        assert record.action != "auth", f"{record.method} {record.path} was refused"
        assert (record.header("Authorization") or "").startswith("Bearer ")
    scopes = sorted(scope for r in tokens.requests() for scope in r.scopes)
    assert scopes == sorted(f"repository:{repo}:pull" for repo in repos)
    assert all(r.service == tokens.service for r in tokens.requests())


def test_anonymous_bearer_token_flow(registry_plain, repo, gantry, fault_proxy, token_server):
    image = _push(registry_plain, repo)
    proxy, tokens = _bearer_proxy(fault_proxy, token_server, registry_plain)
    ref = proxy.ref(repo, "v1")

    gantry.ok("pull", "--plain-http", ref)

    [ping, *_] = proxy.requests()
    assert (ping.path, ping.status) == ("/v2/", 401)
    _assert_every_request_was_authorised(proxy, tokens, [repo])
    [asked] = tokens.requests()
    assert "authorization" not in asked.headers
    assert asked.granted == {f"repository:{repo}:pull"}
    _assert_pulled(gantry, image, ref)


def test_bearer_token_for_credentials(registry_plain, repo, gantry, scratch, fault_proxy,
                                      token_server):
    password = secrets.token_urlsafe(12)
    image = _push(registry_plain, repo)
    proxy, tokens = _bearer_proxy(fault_proxy, token_server, registry_plain,
                                  users={USER: password}, anonymous=False)
    ref = proxy.ref(repo, "v1")

    gantry.ok("pull", "--plain-http", "--auth-file",
              _auth_file(scratch, proxy.host, USER, password), ref)

    _assert_every_request_was_authorised(proxy, tokens, [repo])
    assert [r.user for r in tokens.requests()] == [USER]
    _assert_pulled(gantry, image, ref)


def test_bearer_token_refused_for_wrong_credentials(registry_plain, repo, gantry, scratch,
                                                    fault_proxy, token_server):
    _push(registry_plain, repo)
    proxy, tokens = _bearer_proxy(fault_proxy, token_server, registry_plain,
                                  users={USER: "right"}, anonymous=False)

    line = gantry.fails("pull", "--plain-http", "--auth-file",
                        _auth_file(scratch, proxy.host, USER, "wrong"), proxy.ref(repo, "v1"))

    assert "401" in line and "token" in line
    assert {r.status for r in tokens.requests()} == {401}
    assert OciStore(gantry.store).refs() == {}


def test_token_without_the_repository_scope_is_refused(registry_plain, repo, gantry, fault_proxy,
                                                       token_server):
    _push(registry_plain, repo)
    proxy, tokens = _bearer_proxy(fault_proxy, token_server, registry_plain,
                                  repositories={"someone/else"})

    line = gantry.fails("pull", "--plain-http", proxy.ref(repo, "v1"))

    assert "401" in line and repo in line
    assert tokens.requests() and all(r.granted == frozenset() for r in tokens.requests())
    assert {r.status for r in proxy.requests(path=f"^/v2/{repo}/")} == {401}


def test_each_repository_gets_a_token_for_its_own_scope(registry_plain, gantry, fault_proxy,
                                                        token_server):
    repos = [f"it/scope-{secrets.token_hex(4)}" for _ in range(2)]
    pushed = {repo: _push(registry_plain, repo) for repo in repos}
    proxy, tokens = _bearer_proxy(fault_proxy, token_server, registry_plain)
    refs = {repo: proxy.ref(repo, "v1") for repo in repos}

    gantry.ok("pull", "--plain-http", *refs.values())

    _assert_every_request_was_authorised(proxy, tokens, repos)
    for repo, image in pushed.items():
        _assert_pulled(gantry, image, refs[repo])


class _RevokeAndChallenge(Action):
    """The token the client holds stops being valid (as at expiry): all
    tokens are revoked and this request gets the registry's 401."""

    def __init__(self, tokens: TokenServer, scope: str) -> None:
        self.tokens, self.scope = tokens, scope

    def serve(self, exchange) -> None:
        self.tokens.revoke_all()
        exchange.answer(401, {"WWW-Authenticate": self.tokens.challenge(self.scope)}, b"")


def test_token_is_refreshed_after_a_401(registry_plain, repo, gantry, fault_proxy, token_server):
    image = _push(registry_plain, repo)
    proxy, tokens = _bearer_proxy(fault_proxy, token_server, registry_plain)
    layer = image.layers[0].blob.digest
    proxy.add_rule(layer, _RevokeAndChallenge(tokens, f"repository:{repo}:pull"))
    ref = proxy.ref(repo, "v1")

    gantry.ok("pull", "--plain-http", ref)

    refused, served = proxy.blob_gets(layer)
    assert (refused.status, served.status) == (401, 200)
    # A new token, issued after the revocation (another download in flight
    # may have met the revocation too and fetched one more).
    assert len(tokens.requests()) >= 2
    token = served.header("Authorization").removeprefix("Bearer ")
    assert tokens.grants(token, f"repository:{repo}:pull")
    _assert_pulled(gantry, image, ref)


@pytest.mark.parametrize("scheme", ["bearer", "basic"])
def test_redirect_to_a_blob_store_carries_no_credentials(registry_plain, registry_auth, repo,
                                                         gantry, scratch, fault_proxy,
                                                         token_server, scheme):
    image = _push(registry_plain, repo)
    blob_store = fault_proxy(registry_plain)
    flags = ["--plain-http"]
    if scheme == "bearer":
        proxy, _ = _bearer_proxy(fault_proxy, token_server, registry_plain)
    else:
        # The proxy passes Basic credentials through to the auth registry,
        # which has the same image; the blob store serves the plain one's.
        _push(registry_auth, repo)
        proxy = fault_proxy(registry_auth)
        flags += ["--auth-file", _auth_file(scratch, proxy.host, registry_auth.username,
                                            registry_auth.password)]
    proxy.add_rule("/blobs/", Redirect(blob_store.url), times=None)
    ref = proxy.ref(repo, "v1")

    gantry.ok("pull", *flags, ref)

    asked = proxy.requests(path="/blobs/", method="GET")
    assert {r.status for r in asked} == {307}
    assert all(r.header("Authorization") for r in asked)  # credentials went to the registry...
    served = blob_store.requests(path="/blobs/", method="GET")
    assert {r.path.rsplit("/", 1)[1] for r in served} == {b.digest for b in image.blobs()}
    assert [r.header("Authorization") for r in served] == [None] * len(served)  # ...not beyond
    _assert_pulled(gantry, image, ref)


def test_redirect_loop_fails(registry_plain, repo, gantry, fault_proxy):
    _push(registry_plain, repo)
    proxy = fault_proxy(registry_plain)
    proxy.add_rule("/blobs/", Redirect(proxy.url), times=None)

    line = gantry.fails("pull", "--plain-http", proxy.ref(repo, "v1"))

    assert "redirect" in line
    assert 1 < len(proxy.requests(path="/blobs/")) <= 50


def test_a_token_that_would_inject_a_header_is_never_sent(registry_plain, repo, gantry, fault_proxy,
                                                          token_server):
    _push(registry_plain, repo)
    proxy, tokens = _bearer_proxy(fault_proxy, token_server, registry_plain,
                                  token_suffix="\r\nX-Injected: 1")

    line = gantry.fails("pull", "--plain-http", proxy.ref(repo, "v1"))

    token_host = tokens.realm.split("/")[2]
    assert f"token server {token_host}" in line and proxy.host in line, line
    assert len(tokens.requests()) == 1
    assert [r.path for r in proxy.requests()] == ["/v2/"]  # the ping only: no request carried it
    assert all("x-injected" not in r.headers for r in proxy.requests())
