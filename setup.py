"""Build hooks: compile the message catalogues and ship the Alembic migrations.

Metadata lives in setup.cfg. Two things need code at build time:

* `.po` catalogues are compiled to `.mo` (binary catalogues are build output,
  never committed);
* the top-level `migrations/` folder is copied into the built package as
  `reportline/_migrations` so that a non-editable install can still run
  `reportline init`. An editable install uses the source tree directly.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


def compile_catalogues(package_dir: Path) -> None:
    """Compile every messages.po under package_dir/translations next to itself."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po_path in sorted((package_dir / "translations").glob("*/LC_MESSAGES/messages.po")):
        with po_path.open("rb") as po_file:
            catalogue = read_po(po_file, locale=po_path.parts[-3])
        with po_path.with_suffix(".mo").open("wb") as mo_file:
            write_mo(mo_file, catalogue, use_fuzzy=False)


class BuildPy(build_py):
    """build_py that also compiles catalogues and bundles migrations."""

    def run(self) -> None:
        compile_catalogues(ROOT / "reportline")
        super().run()
        if not getattr(self, "editable_mode", False):
            target = Path(self.build_lib) / "reportline" / "_migrations"
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(
                ROOT / "migrations", target, ignore=shutil.ignore_patterns("__pycache__")
            )


setup(cmdclass={"build_py": BuildPy})
