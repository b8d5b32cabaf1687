"""Serve one app under waitress exactly as `reportline serve` does, for a benchmark.

    python -m bench.server --app reportline --instance DIR --port P [--threads 8]
    python -m bench.server --app bare --database-url URL --port P [--threads 8]
    python -m bench.server --app reportline ... --what-if form-cache   (see bench/whatif.py)
    python -m bench.server --app reportline ... --waitress-defaults   (comparison only)
    python -m bench.server --app reportline ... --count-argon2 FILE

Debug is off and waitress gets `reportline.cli.waitress_options` (no banner, no
access log, proxy headers stripped, the connection limit, idle timeout, poll()
and body limits of `reportline serve`); ReportLine also runs its in-process
housekeeping thread when its settings ask for it, as `serve` does. The bare app
gets the same waitress options (computed from default settings).

--waitress-defaults leaves out waitress_options' tuning (only no banner and
stripped proxy headers, as before the tuning): for bench.slow_clients'
comparison, never for a measurement of the app itself.

--count-argon2 FILE counts Argon2id runs in this process and writes the count
to FILE when the server stops (bench.guessing).

SIGTERM shuts waitress down cleanly (so SQLite checkpoints its WAL).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
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


def server_options(app: Any, defaults: bool) -> dict[str, object]:
    """The keyword arguments `reportline serve` gives waitress (or the untuned ones)."""
    from reportline.cli import waitress_options
    from reportline.config import Settings

    settings = app.extensions.get("reportline.settings")
    if settings is None:  # the bare app: the options default settings give
        settings = Settings(instance_path=Path("."), secret_key=b"\0" * 32,
                            receipt_pepper=b"\0" * 32, database_url="")
    if defaults:
        return {"ident": "", "clear_untrusted_proxy_headers": settings.proxy_hops == 0}
    return waitress_options(settings)


def make_server(app: Any, args: argparse.Namespace, options: dict[str, object]) -> Any:
    """ReportLine's server as `reportline serve` makes it (`reportline.web.server`: its
    own error pages, a refused body drained), on a revision that has it; plain
    waitress for the bare app, --waitress-defaults and older revisions."""
    where: dict[str, Any] = {"host": "127.0.0.1", "port": args.port, "threads": args.threads}
    if args.app == "reportline" and not args.waitress_defaults:
        try:
            from reportline.web import server as web_server
        except ImportError:
            web_server = None
        if web_server is not None and hasattr(web_server, "create_server"):
            pages = web_server.ErrorPages(app, app.extensions["reportline.settings"])
            return web_server.create_server(app, pages, **where, **options)
    import waitress

    return waitress.create_server(app, **where, **options)


def start_housekeeping(app: Any) -> None:
    """What `reportline serve` starts beside waitress: the purge, once a minute."""
    settings = app.extensions.get("reportline.settings")
    if settings is None or not settings.housekeeping_in_process:
        return
    from reportline import cli

    threading.Thread(target=cli._housekeeping, args=(settings,),
                     name="reportline-housekeeping", daemon=True).start()


class Argon2Counter:
    """Counts Argon2id runs (every password key derivation goes through one)."""

    def __init__(self) -> None:
        from reportline.crypto import password

        self.count = 0
        self._lock = threading.Lock()
        original = password.argon2id

        def counted(*args: Any, **kwargs: Any) -> bytes:
            with self._lock:
                self.count += 1
            return original(*args, **kwargs)

        password.argon2id = counted


def main() -> None:
    """Parse arguments and serve until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--app", choices=["reportline", "bare"], required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--instance", help="ReportLine instance folder")
    parser.add_argument("--database-url", help="database of the bare app")
    parser.add_argument("--what-if", action="append", default=[],
                        help="apply a simulated optimisation from bench/whatif.py")
    parser.add_argument("--waitress-defaults", action="store_true",
                        help="run waitress without waitress_options' tuning (comparison only)")
    parser.add_argument("--count-argon2", metavar="FILE",
                        help="count Argon2id runs and write the count to FILE on exit")
    parser.add_argument("--processes", type=int, default=1,
                        help="worker processes, as `reportline serve --processes` (ReportLine)")
    args = parser.parse_args()
    app = build_app(args)
    if args.what_if:
        from bench.whatif import apply

        apply(args.what_if)
    if app.debug:
        raise SystemExit("refusing to benchmark with debug on")
    counter = Argon2Counter() if args.count_argon2 else None

    if args.processes > 1:
        if args.app != "reportline" or args.count_argon2 or args.waitress_defaults:
            raise SystemExit("--processes: ReportLine only, without --count-argon2 or "
                             "--waitress-defaults")
        from reportline import cli

        print(f"reportline serving on 127.0.0.1:{args.port} with {args.processes} processes "
              f"of {args.threads} threads", flush=True)
        cli._serve_processes(app, "127.0.0.1", args.port, args.threads, args.processes)
        return

    options = server_options(app, args.waitress_defaults)
    server = make_server(app, args, options)
    start_housekeeping(app)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"{args.app} serving on 127.0.0.1:{args.port} with {args.threads} threads"
          f"{' (what-if: ' + ', '.join(args.what_if) + ')' if args.what_if else ''}; "
          f"waitress options {options}", flush=True)
    try:
        server.run()
    finally:
        if counter is not None:
            Path(args.count_argon2).write_text(str(counter.count), encoding="utf-8")
        engine = app.extensions.get("reportline.engine") or app.extensions.get("bench.engine")
        if engine is not None:
            engine.dispose()


if __name__ == "__main__":
    main()
