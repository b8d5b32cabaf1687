"""The documentation names only things that exist.

Everything in backticks in README.md, docs/ and instance/ that names a test
(`tests/x.py::test_y`), a repository path, a module or dotted name, a CLI
command, a URL, a setting or a Python identifier must exist, so renaming one
without the docs fails here. Prose in backticks (SQL, JSON, shell with
spaces) is not a name and is left alone; paths outside the repository
(`../shared/...`) are out of scope.
"""

from __future__ import annotations

import ast
import base64
import builtins
import importlib
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import click
import pytest
from flask import Flask

from reportline import create_app
from reportline.cli import main as cli_main
from reportline.config import ENV_PREFIX, Settings, known_setting_names
from reportline.db import Base

ROOT = Path(__file__).resolve().parents[2]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "bench/README.md"]
DOC_FILES += sorted(p for p in (ROOT / "instance").iterdir() if p.is_file())
CODE_FOLDERS = ("reportline", "tests", "bench", "migrations")
# Issue 9 brought the docs to 72 KB under a 90 KB aim; casework (issue 11) added its
# own concepts (what is sealed, formats, routes, flows), and e-mail alerts (issue 12)
# theirs (what an alert says, when, and what it and its rows reveal; modules, routes,
# flows); need-to-know and key events (issue 13) bring their own, and the operators'
# procedures (docs/operating.md). Raise this only for a new capability's concepts,
# never to say a thing twice. Evidence and hand-over (issue 14) bring cleaning, the
# evidence layout, what leaves in an export and the bodies kept off disk.
MAX_DOCS_BYTES = 156_000

# Paths the docs may name that a clean checkout does not hold, and why.
RUNTIME_PATHS = {
    "instance/config.toml": "written by `reportline init`",
    "instance/reportline.sqlite3": "the embedded database, made by `reportline init`",
    "bench/results": "benchmark output; only small cited JSON files are committed",
    "node_modules/axe-core": "installed by scripts/test",
    ".venv": "made by .ci/run",
    "reportline/_migrations": "the migrations, copied into the built wheel by setup.py",
}
RUNTIME_FILE_NAMES = {"config.toml", "reportline.sqlite3"}
# Where a path the docs give without its leading folders is looked up.
PATH_BASES = ("", "reportline/", "reportline/web/", "reportline/templates/", "reportline/static/")
# Absolute paths on a server, not URLs of this site.
SERVER_FOLDERS = {"tmp", "proc", "etc", "srv", "root", "usr", "var", "dev", "home", "run"}
# Names from outside this repository that the docs discuss.
EXTERNAL_NAMES = {
    "xmin",  # PostgreSQL's row-version column
    "inbuf_overflow",  # waitress settings
    "outbuf_overflow",
    "outbuf_high_watermark",
    "max_request_body_size",
    "channel_timeout",
    "connection_limit",
    "secure_delete",  # SQLite pragmas
    "wal_checkpoint",
    "max_page_count",
    "O_TMPFILE",
    "pg_dump",
    "pg_advisory_xact_lock",
    "lint_imports",
    "Referer",  # HTTP headers
}

BACKTICKED = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
FENCE = re.compile(r"^(```|~~~)")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")
FILE_SUFFIXES = (".py", ".md", ".toml", ".cfg", ".ini", ".txt", ".json", ".po", ".pot", ".html")
FILE_SUFFIXES += (".css", ".js", ".yaml", ".mako", ".svg", ".png", ".sqlite3")


@dataclass
class Problem:
    """A name cited in a document that does not exist."""

    where: str
    name: str
    why: str

    def __str__(self) -> str:
        return f"{self.where}: `{self.name}` — {self.why}"


@dataclass
class KnownNames:
    """What exists: found in the code, the URL map, the schema and the CLI."""

    identifiers: set[str] = field(default_factory=set)
    strings: set[str] = field(default_factory=set)
    classes: dict[str, set[str]] = field(default_factory=dict)
    modules: dict[str, list[str]] = field(default_factory=dict)
    tests: dict[str, set[str]] = field(default_factory=dict)
    columns: set[str] = field(default_factory=set)
    tables: set[str] = field(default_factory=set)
    endpoints: set[str] = field(default_factory=set)
    rules: set[str] = field(default_factory=set)
    settings: set[str] = field(default_factory=set)
    file_names: set[str] = field(default_factory=set)
    tracked: list[str] = field(default_factory=list)
    path_heads: set[str] = field(default_factory=set)


# ---------------------------------------------------------------- what exists


def _python_files() -> Iterator[Path]:
    """The repository's Python, but this file (whose examples of wrong names must stay
    unknown)."""
    for folder in CODE_FOLDERS:
        yield from (p for p in (ROOT / folder).rglob("*.py") if p != Path(__file__).resolve())
    yield ROOT / "setup.py"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _collect_tests(known: KnownNames) -> None:
    for path in (ROOT / "tests").rglob("test_*.py"):
        tree = ast.parse(path.read_text("utf-8"))
        known.tests[str(path.relative_to(ROOT))] = {
            node.name
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.ClassDef)
            and node.name.startswith(("test_", "Test"))
        }


def _collect_code(known: KnownNames) -> None:
    for path in _python_files():
        tree = ast.parse(path.read_text("utf-8"))
        module = _module_name(path)
        known.modules.setdefault(module.rsplit(".", 1)[-1], []).append(module)
        if path.name.startswith("test_"):
            known.tests[str(path.relative_to(ROOT))] = {
                node.name
                for node in ast.walk(tree)
                if isinstance(node, ast.FunctionDef | ast.ClassDef)
                and node.name.startswith(("test_", "Test"))
            }
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                known.identifiers.add(node.name)
                known.identifiers.update(a.arg for a in node.args.args + node.args.kwonlyargs)
            elif isinstance(node, ast.ClassDef):
                known.identifiers.add(node.name)
                members = known.classes.setdefault(node.name, set())
                for item in ast.walk(node):
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                        members.add(item.name)
                    elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                        members.add(item.target.id)
                    elif isinstance(item, ast.Assign):
                        members.update(t.id for t in item.targets if isinstance(t, ast.Name))
            elif isinstance(node, ast.Name):
                known.identifiers.add(node.id)
            elif isinstance(node, ast.Attribute):
                known.identifiers.add(node.attr)
            elif isinstance(node, ast.keyword) and node.arg:
                known.identifiers.add(node.arg)
            elif isinstance(node, ast.alias):
                known.identifiers.update(node.name.split("."))
                if node.asname:
                    known.identifiers.add(node.asname)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                known.strings.add(node.value)
                known.strings.update(re.findall(r"[A-Za-z_][\w.:-]*", node.value))


def _collect_app(known: KnownNames, tmp_path: Path) -> Flask:
    secret = base64.b64encode(bytes(32)).decode()
    app = create_app(
        {
            "instance_path": tmp_path,
            "secret_key": secret,
            "receipt_pepper": secret,
            "database_url": f"sqlite:///{tmp_path / 'x.sqlite3'}",
        }
    )
    for rule in app.url_map.iter_rules():
        known.endpoints.add(rule.endpoint)
        known.rules.add(_normalise_url(rule.rule))
    return app


def _normalise_url(url: str) -> str:
    url = url.split("?", 1)[0].split("#", 1)[0]
    url = re.sub(r"<[^>]*>", "<>", url)
    return url.rstrip("/") or "/"


@cache
def known_names() -> KnownNames:
    """Everything a document may name, gathered once."""
    known = KnownNames()
    _collect_code(known)
    _collect_tests(known)
    for table in Base.metadata.tables.values():
        known.tables.add(table.name)
        known.columns.update(f"{table.name}.{column.name}" for column in table.columns)
        known.strings.update(column.name for column in table.columns)
        known.strings.update(str(index.name) for index in table.indexes)
    known.settings = known_setting_names()
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    known.tracked = tracked
    known.file_names = {Path(p).name for p in tracked} | RUNTIME_FILE_NAMES
    known.path_heads = {
        part for p in tracked for part in Path(p).parts[:-1] if not part.startswith("_")
    } | {Path(p).parts[0] for p in [*tracked, *RUNTIME_PATHS]}
    return known


# ---------------------------------------------------------------- each kind of name


def check_test_id(name: str, known: KnownNames) -> str | None:
    """`tests/x.py::test_y` (or `::TestClass::test_y`) must exist."""
    path, *parts = name.split("::")
    parts = [p.split("[", 1)[0] for p in parts]
    if path not in known.tests:
        return "no such test file"
    if parts and parts[0] not in known.tests[path]:
        return "no such test in that file"
    return None


def check_path(name: str, known: KnownNames) -> str | None:
    """A repository path must be in the checkout (or be a known runtime path)."""
    clean = re.sub(r":\d+(-\d+)?$", "", name).rstrip("/")
    if any(clean == p or clean.startswith(p + "/") for p in RUNTIME_PATHS):
        return None
    if "*" in clean:
        pattern = re.escape(clean).replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
        matched = any(re.fullmatch(pattern, p) for p in known.tracked)
        return None if matched else "no file matches this pattern"
    if any((ROOT / base / clean).exists() for base in PATH_BASES):
        return None
    return "no such file or folder in the repository"


def check_cli(name: str) -> str | None:
    """`reportline <command> [<sub>] [--option ...]`: the command and options must exist."""
    words = name.split()[1:]
    command: click.Command = cli_main
    for word in words:
        if word.startswith("-"):
            option = word.split("=", 1)[0]
            opts = {o for p in command.params for o in getattr(p, "opts", [])}
            if option not in opts | {"--help"}:
                return f"`{command.name}` has no option {option}"
        elif isinstance(command, click.Group):
            sub = command.commands.get(word)
            if sub is None:
                return f"no command `{word}`"
            command = sub
        else:
            continue  # an argument or a placeholder
    return None


def check_url(name: str, known: KnownNames) -> str | None:
    """A URL on this site must match a rule in the app's URL map."""
    url = name.split()[-1]
    if url.startswith("/static/") and "<" not in url:
        return None if (ROOT / "reportline" / url.lstrip("/")).exists() else "no such file"
    url = re.sub(r"<[^>]*>", "<>", url.split("?", 1)[0])
    url = _normalise_url(url)
    if url in known.rules:
        return None
    # A concrete URL (`/triage/cases/RL-...`) matches a rule with a variable.
    pattern_matches = [
        r for r in known.rules if re.fullmatch(re.sub(r"<>", "[^/]+", re.escape(r)), url)
    ]
    return None if pattern_matches else "no route in the URL map matches"


def check_setting(name: str, known: KnownNames) -> str | None:
    """`REPORTLINE_NAME` or `name = value` must be a setting."""
    if name.startswith(ENV_PREFIX):
        env = name.rstrip("*_")
        if env + "_" == ENV_PREFIX or name.endswith("*"):
            return None
        if env in {"REPORTLINE_INSTANCE", "REPORTLINE_TEST_DATABASE_URL"}:
            return None
        return None if env[len(ENV_PREFIX) :].lower() in known.settings else "no such setting"
    key = name.split("=", 1)[0].strip()
    if key in known.settings or key in known.identifiers or key in known.strings:
        return None  # a setting, or an assignment in code
    return "no such setting"


def _resolve_python(dotted: str) -> bool:
    """Whether `a.b.c` is an importable module, or an attribute reached from one."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            if isinstance(target, type) and attribute in _class_members(target):
                target = None
                continue
            if not hasattr(target, attribute):
                return False
            target = getattr(target, attribute)
        return True
    return False


def _class_members(cls: type) -> set[str]:
    members = set(dir(cls))
    for klass in cls.__mro__:
        members.update(getattr(klass, "__annotations__", {}))
    return members


def check_dotted(name: str, known: KnownNames) -> str | None:
    """A module, an attribute of one, a table column, an endpoint or a code constant."""
    base = name.removesuffix("()")
    if base.endswith(FILE_SUFFIXES):
        return None if Path(base).name in known.file_names else "no such file"
    if base.startswith("reportline."):
        return None if _resolve_python(base) else "no such module or attribute"
    if base in known.columns or base in known.endpoints or base in known.strings:
        return None
    head, _, rest = base.partition(".")
    for module in known.modules.get(head, []):
        if _resolve_python(f"{module}.{rest}"):
            return None
    if head in known.classes and rest.split(".")[0] in known.classes[head] | known.identifiers:
        return None
    if head in known.identifiers and rest.split(".")[-1] in known.identifiers:
        return None  # an attribute of something the code names (session.info, app.url_map)
    if _resolve_python(base):
        return None  # the standard library or a dependency
    return "no module, attribute, column, endpoint or constant by this name"


def check_identifier(name: str, known: KnownNames) -> str | None:
    """A Python-looking name (a function, class, column, constant) must exist somewhere."""
    base = name.removesuffix("()")
    if (
        base in known.identifiers
        or base in known.strings
        or base in known.settings
        or base in known.tables
        or base in EXTERNAL_NAMES
        or hasattr(builtins, base)
    ):
        return None
    return "not a name in the code, the schema or the settings"


def classify(name: str, known: KnownNames) -> str | None:
    """Which kind of name a backticked text is, or None for prose."""
    if name.startswith("tests/") and "::" in name:
        return "test"
    if name.startswith("reportline ") or name == "reportline":
        return "cli" if " " in name else None
    if re.fullmatch(r"(GET |POST )?/[\w<>/.:-]*(\?\S*)?", name):
        first = name.split()[-1].strip("/").split("/", 1)[0]
        return None if first in SERVER_FOLDERS else "url"
    if re.fullmatch(r"REPORTLINE_[A-Z0-9_]*\*?", name) or re.fullmatch(
        r"[a-z][a-z0-9_]* = \S.*", name
    ):
        return "setting"
    if " " in name or name.startswith(("../", "http", "~")):
        return None
    if "/" in name:
        # A path is words joined by slashes whose first folder the repository has
        # (`otpauth://`, `image/svg+xml` or `true/false` are not paths).
        if not re.fullmatch(r"[\w.*-]+(/[\w.*-]+)*/?(:\d+(-\d+)?)?", name):
            return None
        return "path" if name.split("/", 1)[0] in known.path_heads else None
    if DOTTED.fullmatch(name.removesuffix("()")):
        return "dotted"
    base = name.removesuffix("()")
    if IDENTIFIER.fullmatch(base) and ("_" in base.strip("_") or base[:1].isupper()):
        return "identifier" if not base.isupper() or "_" in base else None
    return None


def check_name(name: str, known: KnownNames) -> str | None:
    """Why `name` does not exist, or None when it does (or is not a name)."""
    kind = classify(name, known)
    if kind == "test":
        return check_test_id(name, known)
    if kind == "cli":
        return check_cli(name)
    if kind == "url":
        return check_url(name, known)
    if kind == "setting":
        return check_setting(name, known)
    if kind == "path":
        return check_path(name, known)
    if kind == "dotted":
        return check_dotted(name, known)
    if kind == "identifier":
        return check_identifier(name, known)
    return None


def cited_names(text: str) -> Iterator[tuple[int, str]]:
    """(line, text) for every backticked span outside fenced code blocks."""
    fenced = False
    for number, line in enumerate(text.splitlines(), start=1):
        if FENCE.match(line.strip()):
            fenced = not fenced
            continue
        if not fenced:
            for match in BACKTICKED.finditer(line):
                yield number, match.group(1).strip()


def problems_in(path: Path, text: str, known: KnownNames) -> list[Problem]:
    """Every cited name in one document that does not exist."""
    where = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
    found = []
    for line, name in cited_names(text):
        why = check_name(name, known)
        if why:
            found.append(Problem(f"{where}:{line}", name, why))
    return found


# ---------------------------------------------------------------- the tests


@pytest.fixture(scope="module")
def known(tmp_path_factory: pytest.TempPathFactory) -> KnownNames:
    names = known_names()
    app = _collect_app(names, tmp_path_factory.mktemp("docs-app"))
    app.extensions["reportline.engine"].dispose()
    return names


def test_every_name_the_docs_cite_exists(known: KnownNames) -> None:
    problems = [
        problem
        for path in DOC_FILES
        for problem in problems_in(path, path.read_text("utf-8"), known)
    ]
    assert not problems, "Names in the docs that do not exist:\n" + "\n".join(map(str, problems))


@pytest.mark.parametrize(
    "renamed",
    [
        "tests/web/test_reporting.py::test_no_such_behaviour",
        "tests/web/test_no_such_file.py::test_anything",
        "reportline/services/no_such_module.py",
        "reportline.services.cases.no_such_function",
        "reportline.services.no_such_module",
        "cases.no_such_function",
        "reportline no-such-command",
        "reportline keys no-such-subcommand",
        "reportline init --no-such-option",
        "REPORTLINE_NO_SUCH_SETTING",
        "no_such_setting = 3",
        "/triage/no-such-page",
        "cases.no_such_column",
        "no_such_function()",
        "NoSuchClass",
    ],
)
def test_a_renamed_name_is_reported(known: KnownNames, renamed: str) -> None:
    problems = problems_in(ROOT / "docs" / "example.md", f"See `{renamed}`.\n", known)
    assert [p.name for p in problems] == [renamed]


@pytest.mark.parametrize(
    "real",
    [
        "tests/unit/test_docs.py::test_every_name_the_docs_cite_exists",
        "reportline/services/cases.py",
        "reportline.services.cases.state_mac",
        "cases.state_mac",
        "reportline init --recovery-key-file PATH",
        "REPORTLINE_DATABASE_URL",
        "proxy_hops = 1",
        "/triage/cases/<reference>",
        "POST /report",
        "Settings",
        "../shared/design/security.md",
        "SELECT ... FOR UPDATE",
    ],
)
def test_a_real_name_or_prose_passes(known: KnownNames, real: str) -> None:
    assert problems_in(ROOT / "docs" / "example.md", f"See `{real}`.\n", known) == []


def test_the_docs_stay_small() -> None:
    size = sum(len(p.read_bytes()) for p in (ROOT / "docs").glob("*.md"))
    assert size < MAX_DOCS_BYTES, f"docs/*.md hold {size:,} bytes; the cap is {MAX_DOCS_BYTES:,}"


def test_settings_in_the_example_config_are_real_settings(known: KnownNames) -> None:
    text = (ROOT / "instance" / "config.example.toml").read_text("utf-8")
    named = set(re.findall(r"^#?\s*([a-z][a-z0-9_]*)\s*=", text, re.MULTILINE))
    assert named <= known.settings, f"not settings: {sorted(named - known.settings)}"
    assert known.settings <= named | {"unit_key_fingerprint"}, (
        f"settings the example does not show: {sorted(known.settings - named)}"
    )
    assert Settings.__dataclass_fields__  # the names above come from this class


MAX_RESULT_BYTES = 256 * 1024


def test_committed_benchmark_results_are_small_json_files_a_document_cites(
    known: KnownNames,
) -> None:
    results = [p for p in known.tracked if p.startswith("bench/results/")]
    docs = "".join(path.read_text("utf-8") for path in DOC_FILES)
    for path in results:
        assert path.endswith(".json"), f"{path}: only JSON results are committed"
        size = (ROOT / path).stat().st_size
        assert size < MAX_RESULT_BYTES, f"{path} holds {size:,} bytes: commit summaries only"
        assert Path(path).name in docs, f"{path} is committed but no document cites it"
