"""How the seeded officer-pages database is stored, and what a rowid layout would change.

    python -m bench.storage            # after python -m bench.officer_pages

Prints each table's and index's size (SQLite's dbstat), then copies the three
big tables twice into a scratch file, in the order their rows arrive (a case's
rows on its day, in random order within the day, as random ids make them):
once as the app declares them (WITHOUT ROWID) and once as rowid tables whose
INTEGER PRIMARY KEY is the same random id (so rows are still stored in id
order, not arrival order). It reports each copy's size and, for `cases`, the
queue's page query at three depths.
"""

from __future__ import annotations

import re
import sqlite3
import statistics
import time
from pathlib import Path
from typing import Any

from bench.common import RESULTS, print_table, write_results

SOURCE = RESULTS / "officer-pages" / "instance" / "reportline.sqlite3"
SCRATCH = RESULTS / "storage-scratch.sqlite3"
ORDER = "ORDER BY received_on DESC, id DESC"


def table_sizes(path: Path) -> list[tuple[str, int, float]]:
    """(name, rows or -1 for an index, megabytes) for every table and index."""
    database = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    sizes = database.execute(
        "SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC").fetchall()
    tables = {row[0] for row in database.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'")}
    result = []
    for name, size in sizes:
        rows = database.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] if (
            name in tables) else -1
        result.append((name, rows, size / 1e6))
    database.close()
    return result


# Each big table, and the order its rows arrive in.
ARRIVAL = {
    "cases": "received_on, random()",
    "status_changes": "changed_at",
    "messages": "sent_on, seq",
}


def copy_table(database: sqlite3.Connection, table: str, name: str, rowid: bool) -> None:
    """Copy `table` into `name`, in arrival order, with or without a rowid."""
    create = database.execute(
        "SELECT sql FROM source.sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).fetchone()[0]
    create = re.sub(rf"CREATE TABLE \"?{table}\"?", f"CREATE TABLE {name}", create, count=1)
    create = re.sub(r"CONSTRAINT \w+ ", "", create)
    if rowid:
        create = re.sub(r"\)\s*WITHOUT ROWID\s*$", ")", create.strip(), flags=re.IGNORECASE)
    database.execute(f"DROP TABLE IF EXISTS {name}")
    database.execute(create)
    database.execute(f"INSERT INTO {name} SELECT * FROM source.{table} ORDER BY {ARRIVAL[table]}")
    if table == "cases":
        database.execute(f"CREATE INDEX {name}_queue ON {name} (received_on, id)")
    database.commit()


def page_query_ms(database: sqlite3.Connection, name: str, offset: int, repeats: int = 5
                  ) -> float:
    """Median time of the queue's page query (all columns, LIMIT 50 OFFSET n)."""
    durations = []
    for _ in range(repeats):
        started = time.perf_counter()
        database.execute(f"SELECT * FROM {name} {ORDER} LIMIT 50 OFFSET ?", (offset,)).fetchall()
        durations.append((time.perf_counter() - started) * 1000)
    return statistics.median(durations)


def main() -> None:
    """Measure the kept database and the two copies of its cases table."""
    if not SOURCE.exists():
        raise SystemExit(f"{SOURCE} does not exist: run python -m bench.officer_pages first")
    results: dict[str, Any] = {"tables": table_sizes(SOURCE)}
    print(f"{SOURCE} ({SOURCE.stat().st_size / 1e9:.2f} GB)")
    print_table(["table or index", "rows", "MB"], [
        [name, rows if rows >= 0 else "", size] for name, rows, size in results["tables"][:12]])

    SCRATCH.unlink(missing_ok=True)
    database = sqlite3.connect(SCRATCH)
    database.execute(f"ATTACH 'file:{SOURCE}?mode=ro' AS source")
    count = database.execute("SELECT count(*) FROM source.cases").fetchone()[0]
    last = max(0, count - 50)
    layouts: dict[str, dict[str, Any]] = {"without_rowid": {}, "rowid": {}}
    for table in ARRIVAL:
        for layout in layouts:
            name = f"{table}_{layout}"
            copy_table(database, table, name, rowid=layout == "rowid")
            size = database.execute("SELECT sum(pgsize) FROM dbstat WHERE name = ?",
                                    (name,)).fetchone()[0]
            layouts[layout][table] = {"megabytes": size / 1e6}
            if table == "cases":
                layouts[layout][table]["page_query_ms"] = {
                    offset: page_query_ms(database, name, offset)
                    for offset in (0, last // 2, last)}
            database.execute(f"DROP TABLE {name}")
            database.execute("VACUUM")
    database.close()
    SCRATCH.unlink(missing_ok=True)
    results["layouts"] = layouts
    print("\nThe big tables copied in arrival order, in each layout (MB)")
    print_table(["table", *layouts], [
        [table, *(layouts[layout][table]["megabytes"] for layout in layouts)]
        for table in ARRIVAL] + [
        ["total", *(sum(t["megabytes"] for t in layouts[layout].values()) for layout in layouts)]])
    print(f"\nThe queue's page query on each copy of cases ({count:,} rows), ms")
    print_table(["layout", "OFFSET 0", f"OFFSET {last // 2}", f"OFFSET {last}"], [
        [layout, *layouts[layout]["cases"]["page_query_ms"].values()] for layout in layouts])
    print(f"\nResults: {write_results('storage', results)}")


if __name__ == "__main__":
    main()
