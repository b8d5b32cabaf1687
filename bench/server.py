"""Serve one app under waitress exactly as `reportline serve` does, for a benchmark.

    python -m bench.server --app reportline --instance DIR --port P [--threads 8]
    python -m bench.server --app bare --database-url URL --port P [--threads 8]
    python -m bench.server --app reportline ... --what-if form-cache   (see bench/whatif.py)

Debug is off, waitress writes no access log, ident="" drops the Server header.
SIGTERM shuts waitress down cleanly (so SQLite checkpoints its WAL).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from typing import Any


def build_app(args: argparse.Namespace) -> Any:
    """The WSGI app named on the command line."""
    if args.app == "reportline":
        os.environ["REPORTLINE_INSTANCE"] = str(Path(args.instance).resolve())
        from reportline import create_app

        return create_app()
    from bench.bare_app import create_bare_app

    return create_bare_app(args.database_url)


def main() -> None:
    """Parse arguments and serve until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--app", choices=["reportline", "bare"], required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--instance", help="ReportLine instance folder")
    parser.add_argument("--database-url", help="database of the bare app")
    parser.add_argument("--what-if", action="append", default=[],
                        help="apply a simulated optimisation from bench/whatif.py")
    args = parser.parse_args()
    app = build_app(args)
    if args.what_if:
        from bench.whatif import apply

        apply(args.what_if)
    if app.debug:
        raise SystemExit("refusing to benchmark with debug on")

    import waitress

    server = waitress.create_server(
        app,
        host="127.0.0.1",
        port=args.port,
        threads=args.threads,
        ident="",
        clear_untrusted_proxy_headers=True,
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"{args.app} serving on 127.0.0.1:{args.port} with {args.threads} threads"
          f"{' (what-if: ' + ', '.join(args.what_if) + ')' if args.what_if else ''}", flush=True)
    try:
        server.run()
    finally:
        engine = app.extensions.get("reportline.engine") or app.extensions.get("bench.engine")
        if engine is not None:
            engine.dispose()


if __name__ == "__main__":
    main()
