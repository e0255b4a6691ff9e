"""The import contracts in .importlinter hold: which package may import which
(docs/architecture.md), kept true by `make test` rather than by reading.

lint-imports (requirements-dev.txt: import-linter) reads the source without importing it.
"""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.real_parts import require_or_skip

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / ".importlinter"


def lint_imports_binary() -> str | None:
    beside_python = Path(sys.executable).with_name("lint-imports")
    return str(beside_python) if beside_python.is_file() else shutil.which("lint-imports")


def active_contracts() -> list[str]:
    """The names of the contracts the file declares (commented-out ones are not read)."""
    parser = configparser.ConfigParser()
    parser.read(CONFIG, encoding="utf-8")
    return [parser[section]["name"] for section in parser.sections()
            if section.startswith("importlinter:contract:")]


def test_the_import_contracts_hold():
    binary = lint_imports_binary()
    if binary is None:
        require_or_skip("lint-imports is not installed (requirements-dev.txt: import-linter)")
    result = subprocess.run([binary, "--config", str(CONFIG), "--no-cache"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # Every declared contract was checked and kept: none was dropped by a typo in the file.
    contracts = active_contracts()
    assert len(contracts) >= 7
    summary = re.search(r"Contracts: (\d+) kept, (\d+) broken\.", output)
    assert summary is not None, output
    assert (int(summary[1]), int(summary[2])) == (len(contracts), 0), output
