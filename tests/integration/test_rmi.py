"""`gantry rmi REF...`: references out of the store's index.json, by name or
by manifest digest; what they named stays in the store (no space is freed
by rmi itself), and a name the store lacks is one line naming it."""

from __future__ import annotations

import json

from gantry_testbed import images


def index_names(gantry) -> list[str]:
    index = json.loads((gantry.store / "index.json").read_text())
    return [m.get("annotations", {}).get("org.opencontainers.image.ref.name") for m in index["manifests"]]


def test_rmi_removes_a_name_and_a_digest_removes_every_name(gantry, registry_plain, repo):
    image = images.busybox_image(files={"etc/which": "one\n"})
    other = images.busybox_image(files={"etc/which": "two\n"})
    registry_plain.client.push_image(repo, image, tag="a")
    registry_plain.client.push_image(repo, image, tag="b")
    registry_plain.client.push_image(repo, other, tag="c")
    a, b, c = (registry_plain.ref(repo, tag) for tag in "abc")
    gantry.ok("pull", "--plain-http", "--quiet", a, b, c)

    assert gantry.ok("rmi", a).stdout == f"untagged {a}\n"
    assert sorted(index_names(gantry)) == sorted([b, c])
    assert "not in the store" in gantry.fails("inspect", "--local", a)
    assert json.loads(gantry.ok("inspect", "--local", b).stdout)["digest"] == image.digest

    assert gantry.ok("rmi", image.digest).stdout == f"untagged {b}\n"
    assert index_names(gantry) == [c]
    # The content stays for gc: every blob of the image is still there.
    for blob in image.blobs():
        assert (gantry.store / "blobs" / "sha256" / blob.digest[7:]).is_file(), blob.digest
    assert "not in the store" in gantry.fails("run", "--pull", "never", b, "--", "true")


def test_a_name_the_store_lacks_is_one_line_after_the_others_are_removed(gantry, registry_plain, repo):
    registry_plain.client.push_image(repo, images.busybox_image(), tag="v1")
    ref = registry_plain.ref(repo, "v1")
    gantry.ok("pull", "--plain-http", "--quiet", ref)
    missing = registry_plain.ref(repo, "nope")

    run = gantry.run("rmi", ref, missing)

    assert run.returncode != 0 and run.stdout == f"untagged {ref}\n"
    [line] = run.stderr.splitlines()
    assert line.startswith("gantry: error: gantry rmi: not in the store: ") and missing in line and ref not in line
    assert index_names(gantry) == []


def test_a_malformed_reference_removes_nothing(gantry, registry_plain, repo):
    registry_plain.client.push_image(repo, images.busybox_image(), tag="v1")
    ref = registry_plain.ref(repo, "v1")
    gantry.ok("pull", "--plain-http", "--quiet", ref)

    line = gantry.fails("rmi", ref, "Not//A/Ref")

    assert "Not//A/Ref" in line, line
    assert index_names(gantry) == [ref]
    assert "sha256:" in gantry.fails("rmi", "sha256:123")  # not a whole digest
    assert index_names(gantry) == [ref]


def test_rmi_on_a_store_that_does_not_exist_makes_none(gantry, registry_plain, repo):
    line = gantry.fails("rmi", registry_plain.ref(repo, "v1"))

    assert "not in the store" in line, line
    assert not gantry.store.exists()
    assert "missing image reference" in gantry.fails("rmi")
