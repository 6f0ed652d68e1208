"""A small distribution-spec client (urllib): push images and read them back.

Pushes use the monolithic upload (distribution-spec "Pushing a blob
monolithically": POST /v2/NAME/blobs/uploads/, then PUT LOCATION?digest=),
streaming each blob from memory or its file in 1 MiB chunks, so a 1 GiB layer
is never held in memory. Basic credentials are sent up front: a streamed body
cannot be replayed after a 401 challenge.
"""

from __future__ import annotations

import base64
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Iterator

from . import mediatypes
from .blob import Blob
from .content import CHUNK
from .images import Image, Index


class RegistryError(RuntimeError):
    """A registry answered with an unexpected status."""

    def __init__(self, what: str, response: Response) -> None:
        super().__init__(f"{what}: HTTP {response.status}: {response.body[:300]!r}")
        self.response = response


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def _body(blob: Blob) -> bytes | Iterator[bytes]:
    """Bytes in memory go in one send() with the headers (http.client joins
    them, which avoids a Nagle/delayed-ACK stall of ~40 ms per blob); a file
    is streamed in chunks."""
    if blob.data is not None:
        return blob.data
    return _file_chunks(blob)


def _file_chunks(blob: Blob) -> Iterator[bytes]:
    with blob.open() as f:
        while chunk := f.read(CHUNK):
            yield chunk


class RegistryClient:
    """One registry at `url` (http://HOST:PORT or https://HOST:PORT).

    `ca_file` is the CA to trust for https (None: the system's CAs, so the
    test bed's certificate fails verification); username/password are sent
    as Basic credentials on every request when given; client_cert, a
    (certificate, key) pair of files, is presented to a registry asking for one.
    """

    def __init__(self, url: str, ca_file: str | None = None,
                 username: str | None = None, password: str | None = None,
                 timeout: float = 60.0, client_cert: tuple[str, str] | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._auth = None
        if username is not None:
            token = base64.b64encode(f"{username}:{password}".encode()).decode()
            self._auth = f"Basic {token}"
        handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
        if self.url.startswith("https:"):
            context = ssl.create_default_context(cafile=ca_file)
            if client_cert is not None:
                context.load_cert_chain(*client_cert)
            handlers.append(urllib.request.HTTPSHandler(context=context))
        self._opener = urllib.request.build_opener(*handlers)

    # --- raw requests -------------------------------------------------------

    def request(self, method: str, path: str, body: bytes | Iterator[bytes] | None = None,
                headers: dict[str, str] | None = None) -> Response:
        """Any status comes back as a Response; only transport errors raise
        (ssl.SSLCertVerificationError inside urllib.error.URLError for TLS)."""
        url = path if "://" in path else self.url + path
        request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
        if self._auth:
            request.add_header("Authorization", self._auth)
        try:
            with self._opener.open(request, timeout=self.timeout) as reply:
                return Response(reply.status, _lower(reply.headers), reply.read())
        except urllib.error.HTTPError as error:
            with error:
                return Response(error.code, _lower(error.headers), error.read())

    def _expect(self, what: str, response: Response, *statuses: int) -> Response:
        if response.status not in statuses:
            raise RegistryError(what, response)
        return response

    def ping(self) -> int:
        """The status of GET /v2/ (200; 401 when credentials are missing or wrong)."""
        return self.request("GET", "/v2/").status

    # --- blobs --------------------------------------------------------------

    def blob_exists(self, repo: str, digest: str) -> bool:
        response = self.request("HEAD", f"/v2/{repo}/blobs/{digest}")
        return self._expect(f"HEAD blob {digest}", response, 200, 404).status == 200

    def push_blob(self, repo: str, blob: Blob) -> bool:
        """Upload `blob` unless the repository has it; True if it was sent."""
        if self.blob_exists(repo, blob.digest):
            return False
        started = self._expect(f"start upload to {repo}",
                               self.request("POST", f"/v2/{repo}/blobs/uploads/"), 202)
        location = urllib.parse.urljoin(self.url + "/", started.header("Location"))
        separator = "&" if urllib.parse.urlsplit(location).query else "?"
        target = f"{location}{separator}digest={urllib.parse.quote(blob.digest)}"
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(blob.size)}
        self._expect(f"upload {blob.digest}",
                     self.request("PUT", target, _body(blob), headers), 201)
        return True

    def get_blob(self, repo: str, digest: str) -> bytes:
        return self._expect(f"GET blob {digest}",
                            self.request("GET", f"/v2/{repo}/blobs/{digest}"), 200).body

    # --- manifests ----------------------------------------------------------

    def push_manifest(self, repo: str, reference: str, data: bytes, media_type: str) -> str:
        """PUT a manifest by tag or digest; returns the digest the registry computed."""
        response = self.request("PUT", f"/v2/{repo}/manifests/{reference}", data,
                                {"Content-Type": media_type})
        return self._expect(f"PUT manifest {repo}:{reference}", response, 201) \
            .header("Docker-Content-Digest")

    def get_manifest(self, repo: str, reference: str,
                     accept: str = mediatypes.MANIFEST_ACCEPT) -> Response:
        return self._expect(f"GET manifest {repo}:{reference}",
                            self.request("GET", f"/v2/{repo}/manifests/{reference}",
                                         headers={"Accept": accept}), 200)

    # --- whole images -------------------------------------------------------

    def push_image(self, repo: str, image: Image, tag: str | None = None) -> str:
        """Blobs first, then the manifest by digest and, if given, by tag."""
        for blob in image.blobs():
            self.push_blob(repo, blob)
        return self._push_manifests(repo, image.manifest, image.media_type, tag)

    def push_index(self, repo: str, index: Index, tag: str | None = None) -> str:
        """Every listed image by digest, then the index itself."""
        for image in index.images:
            self.push_image(repo, image)
        return self._push_manifests(repo, index.manifest, index.media_type, tag)

    def _push_manifests(self, repo: str, manifest: Blob, media_type: str,
                        tag: str | None) -> str:
        digest = self.push_manifest(repo, manifest.digest, manifest.data, media_type)
        if digest != manifest.digest:
            raise RuntimeError(f"registry stored {digest}, expected {manifest.digest}")
        if tag is not None:
            self.push_manifest(repo, tag, manifest.data, media_type)
        return digest


def _lower(headers: object) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}
