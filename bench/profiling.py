"""Where a request's time goes: per-category timers, query counts and cProfile, in-process.

The app runs in this process behind Flask's test client (no sockets, one
thread), so the numbers are the application's own cost per request; the
waitress share is what the served benchmarks add on top.

* `Categories` attributes wall time *exclusively* to the innermost category
  running (crypto inside a template counts as crypto, not as template), so the
  categories and "rest" add up to the request. It patches functions in this
  process only; nothing in the package is changed.
* `Probes` time chosen functions *inclusively* (e.g. the whole of submit_report).
* `QueryCounter` counts statements sent to the database per request.
* A separate pass runs cProfile per request kind (its overhead inflates
  pure-Python code, so it is for ranking functions, not for milliseconds).
"""

from __future__ import annotations

import cProfile
import functools
import importlib
import inspect
import pstats
import re
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sqlalchemy import Engine, event

from bench.common import median, percentile

REST = "rest: Flask/Werkzeug dispatch, view and service code, test client"


class Categories:
    """Exclusive wall-time per category (innermost category wins)."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self._local = threading.local()

    def _stack(self) -> list[list[Any]]:
        stack = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    def enter(self, category: str) -> None:
        """Start charging time to `category` (pausing the enclosing one)."""
        now = time.perf_counter()
        stack = self._stack()
        if stack:
            top = stack[-1]
            self.totals[top[0]] += now - top[1]
        stack.append([category, now])

    def leave(self) -> None:
        """Stop charging the current category and resume the enclosing one."""
        now = time.perf_counter()
        stack = self._stack()
        category, since = stack.pop()
        self.totals[category] += now - since
        if stack:
            stack[-1][1] = now

    def take(self) -> dict[str, float]:
        """The totals since the last call, and reset."""
        totals = dict(self.totals)
        self.totals.clear()
        return totals

    def wrap(self, function: Callable[..., Any], category: str) -> Callable[..., Any]:
        """`function`, charging its time to `category`."""
        if getattr(function, "_bench_category", None):
            return function

        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            self.enter(category)
            try:
                result = function(*args, **kwargs)
            finally:
                self.leave()
            if inspect.isgenerator(result):
                return self._timed_iterator(result, category)
            return result

        timed._bench_category = category  # type: ignore[attr-defined]
        return timed

    def _timed_iterator(self, iterator: Iterator[Any], category: str) -> Iterator[Any]:
        while True:
            self.enter(category)
            try:
                item = next(iterator)
            except StopIteration:
                return
            finally:
                self.leave()
            yield item

    def patch(self, owner: Any, name: str, category: str) -> None:
        """Replace owner.name (a class or module attribute) by a timed version."""
        setattr(owner, name, self.wrap(getattr(owner, name), category))

    def patch_everywhere(self, module_name: str, name: str, category: str) -> None:
        """Replace a module function, and every `from module import name` copy of it."""
        module = importlib.import_module(module_name)
        original = getattr(module, name)
        timed = self.wrap(original, category)
        for other in list(sys.modules.values()):
            other_name = getattr(other, "__name__", "")
            if other_name.startswith(("reportline", "bench")) and (
                getattr(other, name, None) is original
            ):
                setattr(other, name, timed)


class Probes:
    """Inclusive wall time of chosen functions (outermost call only, per thread)."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        self._local = threading.local()

    def take(self) -> tuple[dict[str, float], dict[str, int]]:
        """Totals and call counts since the last call, and reset."""
        result = dict(self.totals), dict(self.calls)
        self.totals.clear()
        self.calls.clear()
        return result

    def patch_everywhere(self, module_name: str, qualname: str) -> bool:
        """Time module.qualname (a function or Class.method) wherever it is referenced.

        Returns False, changing nothing, if the app has no such function (any more).
        """
        owner_name, _, attr = qualname.rpartition(".")
        try:
            module = importlib.import_module(module_name)
            owner = getattr(module, owner_name) if owner_name else module
            original = getattr(owner, attr)
        except (ImportError, AttributeError):
            return False
        label = f"{module_name.removeprefix('reportline.')}.{qualname}"

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            active = getattr(self._local, "active", set())
            self._local.active = active
            if label in active:
                return original(*args, **kwargs)
            active.add(label)
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.totals[label] += time.perf_counter() - started
                self.calls[label] += 1
                active.discard(label)

        setattr(owner, attr, timed)
        if owner is module:
            for other in list(sys.modules.values()):
                if getattr(other, "__name__", "").startswith("reportline") and (
                    getattr(other, attr, None) is original
                ):
                    setattr(other, attr, timed)
        return True


class QueryCounter:
    """Counts statements (by first keyword) and commits on an engine, and times transactions.

    A transaction's time runs from its BEGIN to its COMMIT or ROLLBACK: on
    SQLite, where ReportLine begins every transaction IMMEDIATE, that is how
    long the request holds the database's write lock.
    """

    def __init__(self, engine: Engine) -> None:
        self.statements: Counter[str] = Counter()
        self.shapes: list[str] = []
        self.commits = 0
        self.transaction_seconds = 0.0
        self._began: float | None = None
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "begin", self._begin)
        event.listen(engine, "commit", self._commit)
        event.listen(engine, "rollback", self._end)

    def _begin(self, _conn: Any) -> None:
        self._began = time.perf_counter()

    def _end(self, _conn: Any) -> None:
        if self._began is not None:
            self.transaction_seconds += time.perf_counter() - self._began
            self._began = None

    def _statement(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        keyword = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "?"
        self.statements[keyword] += 1
        table = _TABLE.search(statement)
        self.shapes.append(f"{keyword} {table.group(1)}" if table else statement.strip()[:40])

    def _commit(self, conn: Any) -> None:
        self.commits += 1
        self.shapes.append("COMMIT")
        self._end(conn)

    def take_shapes(self) -> list[str]:
        """Each statement since the last call as keyword and table, in order; and reset."""
        shapes, self.shapes = self.shapes, []
        return shapes

    def take(self) -> dict[str, int]:
        """Statements by keyword (plus COMMIT) since the last call, and reset."""
        counts = dict(self.statements)
        if self.commits:
            counts["COMMIT"] = self.commits
        self.statements.clear()
        self.commits = 0
        return counts

    def take_transaction_seconds(self) -> float:
        """Time spent inside transactions since the last call, and reset."""
        seconds, self.transaction_seconds = self.transaction_seconds, 0.0
        return seconds


CRYPTO = "crypto (reportline.crypto: HPKE/ML-KEM, AES-GCM, HKDF)"
DATABASE = "database (SQLAlchemy ORM + driver, incl. commit/fsync)"
TEMPLATES = "templates (Jinja2 rendering)"
FORMS = "forms + CSRF (WTForms, Flask-WTF)"
TRANSLATIONS = "translations (Flask-Babel lookups)"
COOKIE = "session cookie (Flask, itsdangerous)"

_CRYPTO_FUNCTIONS = {
    "reportline.crypto.aead": ("encrypt", "decrypt", "new_key"),
    "reportline.crypto.kdf": ("hkdf", "argon2id"),
    "reportline.crypto.keys": ("seal", "open_sealed", "private_key_from_seed",
                               "generate_private_key"),
    "reportline.crypto.envelope": ("seal_envelope", "open_envelope"),
    "reportline.crypto.receipt": ("generate_receipt", "parse_receipt"),
    "reportline.crypto.password": ("derive_password_key", "wrap_private_key",
                                   "unwrap_private_key"),
}


_TABLE = re.compile(r"(?:FROM|INTO|UPDATE)\s+\"?(\w+)", re.IGNORECASE)
CATEGORIES = Categories()
_installed: set[str] = set()


def install_categories(categories: Categories = CATEGORIES) -> None:
    """Patch the libraries (and, once imported, reportline.crypto) with category timers.

    Idempotent: a second call only adds what was not importable the first time.
    """
    if "libraries" not in _installed:
        _install_libraries(categories)
        _installed.add("libraries")
    if "reportline" in sys.modules and "reportline" not in _installed:
        _install_reportline(categories)
        _installed.add("reportline")


def _install_libraries(categories: Categories) -> None:
    import flask.sessions
    import flask.templating
    import flask_babel
    import flask_wtf.csrf
    import flask_wtf.form
    import sqlalchemy.engine.result
    import sqlalchemy.orm
    import wtforms.form

    categories.patch(flask.templating, "_render", TEMPLATES)
    for name in ("open_session", "save_session"):
        categories.patch(flask.sessions.SecureCookieSessionInterface, name, COOKIE)
    for owner, names in (
        (wtforms.form.Form, ("__init__", "validate")),
        (wtforms.form.BaseForm, ("__init__", "process")),
        (flask_wtf.form.FlaskForm, ("__init__", "validate_on_submit")),
        (flask_wtf.csrf, ("generate_csrf", "validate_csrf")),
    ):
        for name in names:
            categories.patch(owner, name, FORMS)
    for name in ("get_translations", "gettext", "ngettext", "pgettext"):
        categories.patch(flask_babel.Domain, name, TRANSLATIONS)
    for name in ("execute", "scalars", "scalar", "get", "flush", "commit", "rollback", "close"):
        categories.patch(sqlalchemy.orm.Session, name, DATABASE)
    for cls in (sqlalchemy.engine.result.Result, sqlalchemy.engine.result.ScalarResult):
        for name in ("all", "first", "one", "one_or_none", "__iter__", "__next__"):
            if name in vars(cls) or hasattr(cls, name):
                categories.patch(cls, name, DATABASE)


def _install_reportline(categories: Categories) -> None:
    for module_name, names in _CRYPTO_FUNCTIONS.items():
        for name in names:
            categories.patch_everywhere(module_name, name, CRYPTO)
    from reportline.crypto.keys import PrivateKey, PublicKey
    from reportline.crypto.receipt import Receipt

    for owner, names in ((PrivateKey, ("public_key", "_hpke")), (PublicKey, ("_hpke",)),
                         (Receipt, ("lookup_hmac", "reporter_private_key"))):
        for name in names:
            categories.patch(owner, name, CRYPTO)


class RequestProfiler:
    """Runs named requests, recording wall time, categories, probes and queries for each."""

    def __init__(self, engine: Engine | None, probes: Sequence[tuple[str, str]] = ()) -> None:
        self.categories = CATEGORIES
        install_categories(self.categories)
        self.probes = Probes()
        for module_name, qualname in probes:
            self.probes.patch_everywhere(module_name, qualname)
        self.queries = QueryCounter(engine) if engine is not None else None
        self.samples: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.profiles: dict[str, cProfile.Profile] = {}
        self.profiled: Counter[str] = Counter()
        self.profiling = False

    def request(self, name: str, send: Callable[[], Any]) -> Any:
        """Send one request (a zero-argument callable) and record it under `name`."""
        self.categories.take()
        self.probes.take()
        if self.queries:
            self.queries.take()
            self.queries.take_transaction_seconds()
            self.queries.take_shapes()
        profile = self.profiles.setdefault(name, cProfile.Profile()) if self.profiling else None
        started = time.perf_counter()
        if profile:
            profile.enable()
        result = send()
        if profile:
            profile.disable()
            self.profiled[name] += 1
        seconds = time.perf_counter() - started
        if not self.profiling:
            probe_totals, probe_calls = self.probes.take()
            self.samples[name].append({
                "seconds": seconds,
                "categories": self.categories.take(),
                "probes": probe_totals,
                "probe_calls": probe_calls,
                "queries": self.queries.take() if self.queries else {},
                "transaction_seconds": (
                    self.queries.take_transaction_seconds() if self.queries else 0.0),
                "statements": self.queries.take_shapes() if self.queries else [],
            })
        return result

    def reset(self) -> None:
        """Forget the samples so far (after a warm-up)."""
        self.samples.clear()

    def summary(self, top: int = 15) -> dict[str, Any]:
        """Per request name: wall time, categories, probes, queries, top cProfile rows."""
        result = {}
        for name, samples in self.samples.items():
            count = len(samples)
            wall = [s["seconds"] * 1000 for s in samples]
            categories: dict[str, float] = defaultdict(float)
            probes: dict[str, float] = defaultdict(float)
            probe_calls: Counter[str] = Counter()
            queries: Counter[str] = Counter()
            for sample in samples:
                for key, value in sample["categories"].items():
                    categories[key] += value * 1000 / count
                for key, value in sample["probes"].items():
                    probes[key] += value * 1000 / count
                probe_calls.update(sample["probe_calls"])
                queries.update(sample["queries"])
            mean_wall = sum(wall) / count
            categories[REST] = mean_wall - sum(categories.values())
            result[name] = {
                "requests": count,
                "wall_ms_median": median(wall),
                "wall_ms_p95": percentile(wall, 95),
                "wall_ms_mean": mean_wall,
                "categories_ms_mean": dict(sorted(categories.items(), key=lambda kv: -kv[1])),
                "probes_ms_mean": dict(sorted(probes.items(), key=lambda kv: -kv[1])),
                "probe_calls_per_request": {k: v / count for k, v in probe_calls.items()},
                "queries_per_request": {k: v / count for k, v in sorted(queries.items())},
                "statements_per_request": sum(
                    v for k, v in queries.items() if k != "COMMIT") / count,
                "transaction_ms_mean": sum(s["transaction_seconds"] for s in samples)
                * 1000 / count,
                "statements_last_request": samples[-1]["statements"],
                "profile_top_tottime": self._top(name, "tottime", top),
                "profile_top_cumtime_app": self._top(name, "cumulative", top, only="reportline"),
            }
        return result

    def _top(self, name: str, key: str, top: int, only: str | None = None) -> list[dict]:
        profile = self.profiles.get(name)
        if profile is None:
            return []
        stats = pstats.Stats(profile)
        requests = max(1, self.profiled[name])
        rows = []
        for (filename, line, function), (_cc, calls, tottime, cumtime, _callers) in (
            stats.stats.items()  # type: ignore[attr-defined]
        ):
            where = _short(filename)
            if only and not where.startswith(only):
                continue
            rows.append({
                "function": f"{where}:{line}({function})",
                "calls_per_request": calls / requests,
                "tottime_ms": tottime * 1000 / requests,
                "cumtime_ms": cumtime * 1000 / requests,
            })
        field = "tottime_ms" if key == "tottime" else "cumtime_ms"
        rows.sort(key=lambda row: -row[field])
        return rows[:top]

    def run_profiled(self, body: Callable[[], None]) -> None:
        """Run `body` (which sends requests through `request`) with cProfile on."""
        self.profiling = True
        try:
            body()
        finally:
            self.profiling = False


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/work/main/", "lib/python3"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def print_summary(summary: dict[str, Any], top: int = 10) -> None:
    """Print the per-request breakdown in readable form."""
    for name, data in summary.items():
        queries = ", ".join(f"{k} {v:g}" for k, v in data["queries_per_request"].items())
        print(f"\n== {name}: {data['requests']} requests in-process, "
              f"median {data['wall_ms_median']:.2f} ms, p95 {data['wall_ms_p95']:.2f} ms")
        print(f"   statements per request: {data['statements_per_request']:g} ({queries or '-'}); "
              f"{data['transaction_ms_mean']:.2f} ms inside transactions")
        if data["statements_last_request"]:
            print(f"   in order: {', '.join(data['statements_last_request'])}")
        print("   time by category (mean ms per request, exclusive):")
        for category, ms in data["categories_ms_mean"].items():
            print(f"     {ms:7.2f}  {category}")
        if data["probes_ms_mean"]:
            print("   functions (mean ms per request, inclusive; calls per request):")
            for probe, ms in data["probes_ms_mean"].items():
                calls = data["probe_calls_per_request"].get(probe, 0)
                print(f"     {ms:7.2f}  {probe}  x{calls:g}")
        if data["profile_top_tottime"]:
            print(f"   cProfile top {top} by own time (ms per request, with profiler overhead):")
            for row in data["profile_top_tottime"][:top]:
                print(f"     {row['tottime_ms']:7.3f}  x{row['calls_per_request']:<7g} "
                      f"{row['function']}")
