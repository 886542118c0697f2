"""The README and docs/ link only to files inside the repository, and every such file exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_PATH_IN_CODE = re.compile(r"`(\.\./[^`\s]+)`")


def local_targets(doc: Path) -> list[str]:
    text = doc.read_text(encoding="utf-8")
    targets = [t for t in _LINK.findall(text) if "://" not in t and not t.startswith("#")]
    return [t.split("#", 1)[0] for t in targets] + _PATH_IN_CODE.findall(text)


@pytest.mark.parametrize("doc", DOCUMENTS, ids=lambda d: d.name)
def test_every_link_stays_in_the_repository_and_exists(doc: Path) -> None:
    for target in local_targets(doc):
        resolved = (doc.parent / target).resolve()
        assert resolved.is_relative_to(ROOT), f"{doc.name} links outside the repository: {target}"
        assert resolved.exists(), f"{doc.name} links to a missing file: {target}"


def test_the_readme_names_the_architecture_document() -> None:
    assert "docs/architecture.md" in local_targets(ROOT / "README.md")
