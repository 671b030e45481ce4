"""Run a sandbox: ``python -m herald.sandboxes x|linkedin|meta [--host 127.0.0.1] [--port N] [--fd N]``."""

from __future__ import annotations

import argparse
import importlib

from herald.sandboxes.serving import serve

DEFAULT_PORTS = {"x": 9101, "linkedin": 9102, "meta": 9103}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m herald.sandboxes", description=__doc__)
    parser.add_argument("platform", choices=sorted(DEFAULT_PORTS))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int)
    parser.add_argument("--fd", type=int, help="serve on this inherited listening socket instead of binding a port")
    args = parser.parse_args()
    module = importlib.import_module(f"herald.sandboxes.{args.platform}.app")
    app = module.create_app()
    serve(app, args.host, args.port or DEFAULT_PORTS[args.platform], args.fd)


if __name__ == "__main__":
    main()
