"""Command line: `python3 -m gantry_testbed` (tools/testbed wraps it).

  registry start --mode plain|tls|auth --dir DIR [--replace] [--timeout S]
        start a registry; prints DIR/registry.json
  registry stop --dir DIR
        stop it (a dead or missing registry is not an error)
  push --registry-dir DIR --repo NAME --tag TAG [--format oci|docker]
       [--compression gzip|zstd|none] [--image busybox|rich] [--add-file PATH=TEXT]...
        build and push an image (with --add-file, one more layer on top
        holding those files: images that share every layer below it);
        prints HOST/NAME:TAG
"""

from __future__ import annotations

import argparse
import json
import sys

from . import images, mediatypes, registry

IMAGES = {"busybox": images.busybox_image, "rich": images.rich_image}


def _registry_start(args: argparse.Namespace) -> None:
    info = registry.start(args.dir, args.mode, timeout=args.timeout, replace=args.replace)
    print(json.dumps(info.to_json(), indent=2))


def _registry_stop(args: argparse.Namespace) -> None:
    registry.stop(args.dir)


def _path_and_text(item: str) -> str:
    if "=" not in item or not item.split("=", 1)[0].strip("/"):
        raise argparse.ArgumentTypeError(f"expected PATH=TEXT, got {item!r}")
    return item


def _push(args: argparse.Namespace) -> None:
    info = registry.running(args.registry_dir)
    if info is None:
        raise registry.TestbedError(f"no registry is running from {args.registry_dir}")
    files = dict(item.split("=", 1) for item in args.add_file)
    image = IMAGES[args.image](args.format, args.compression, files=files)
    info.client.push_image(args.repo, image, tag=args.tag)
    print(info.ref(args.repo, args.tag))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="testbed", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    reg = commands.add_parser("registry", help="start or stop a loopback registry")
    actions = reg.add_subparsers(dest="action", required=True)
    start = actions.add_parser("start")
    start.add_argument("--mode", choices=registry.MODES, required=True)
    start.add_argument("--dir", required=True)
    start.add_argument("--replace", action="store_true",
                       help="stop a registry already running from DIR first")
    start.add_argument("--timeout", type=float, default=20.0)
    start.set_defaults(run=_registry_start)
    stop = actions.add_parser("stop")
    stop.add_argument("--dir", required=True)
    stop.set_defaults(run=_registry_stop)

    push = commands.add_parser("push", help="build and push an image")
    push.add_argument("--registry-dir", required=True)
    push.add_argument("--repo", required=True)
    push.add_argument("--tag", required=True)
    push.add_argument("--format", choices=mediatypes.FORMATS, default="oci")
    push.add_argument("--compression", choices=mediatypes.COMPRESSIONS, default="gzip")
    push.add_argument("--image", choices=sorted(IMAGES), default="busybox")
    push.add_argument("--add-file", action="append", default=[], metavar="PATH=TEXT",
                      type=_path_and_text, help="a file of one more layer on top (repeatable)")
    push.set_defaults(run=_push)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        args.run(args)
    except (registry.TestbedError, OSError, RuntimeError) as error:
        print(f"testbed: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
