"""Prove that the import contracts catch what they promise, on a scratch copy of the tree.

For each probe, copy `src/`, `tests/import_contracts.py` and `pyproject.toml` to a temporary
directory, add one forbidden import to one module, and run `lint-imports` there against the
copy: it must fail, naming the broken contract. The real tree is never touched. Exit 1 when a
probe passes (a contract that lets the import through promises nothing).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: (module file, the line added, the contract that must break)
PROBES = [
    ("domain/signing.py", "import fastapi", "The domain is pure"),
    ("domain/signing.py", "import httpx", "The domain is pure"),
    ("domain/ledger.py", "import numpy", "The domain is pure"),
    ("domain/events.py", "from tanpuhui import config", "The domain is pure"),
    ("services/intake.py", "from tanpuhui.adapters import system", "Services reach storage"),
    ("services/ledger.py", "import sqlalchemy", "Services reach storage"),
]


def run_probe(module: str, line: str, contract: str) -> str | None:
    """None when lint-imports breaks `contract`; else what went wrong."""
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch)
        shutil.copytree(ROOT / "src", base / "src", ignore=shutil.ignore_patterns("__pycache__"))
        (base / "tests").mkdir()
        (base / "tests" / "__init__.py").write_text("")
        shutil.copy(ROOT / "tests" / "import_contracts.py", base / "tests")
        shutil.copy(ROOT / "pyproject.toml", base)
        target = base / "src" / "tanpuhui" / module
        target.write_text(target.read_text() + f"\n{line}  # probe\n")
        env = {**os.environ, "PYTHONPATH": f"{base / 'src'}{os.pathsep}{base}"}
        lint = Path(sys.executable).with_name("lint-imports")
        done = subprocess.run(  # noqa: S603 - our own tool on our own scratch copy
            [str(lint), "--no-cache"],
            check=False,
            cwd=base,
            env=env,
            capture_output=True,
            text=True,
        )
        text = " ".join((done.stdout + done.stderr).split())
        if done.returncode == 0:
            return "lint-imports passed"
        if f"{contract}" not in text or "BROKEN" not in text:
            return f"lint-imports failed, but not on {contract!r}: {text[-400:]}"
        return None


def main() -> int:
    failures = 0
    for module, line, contract in PROBES:
        problem = run_probe(module, line, contract)
        verdict = "caught" if problem is None else f"NOT CAUGHT ({problem})"
        print(f"{module}: {line!r} -> {verdict}")
        failures += problem is not None
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
