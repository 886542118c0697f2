"""An import-linter contract type: modules that may import only the standard library.

`[tool.importlinter]` registers it as `stdlib_only`. Unlike a `forbidden` contract, which names
the packages to keep out (and so lets any package nobody thought of slip in), it allows the
standard library and the listed packages of the project, and forbids everything else — a new
third-party import in the domain breaks it without anyone editing a list.
`scripts/check_contracts.py` proves that on a scratch copy in CI.
"""

from __future__ import annotations

import sys

from grimp import ImportGraph
from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


class StdlibOnlyContract(Contract):
    """Options: `source_modules` (the packages checked) and `allowed_modules` (packages of the
    project they may import besides the standard library; each source is allowed itself)."""

    source_modules = fields.ListField(subfield=fields.StringField())
    allowed_modules = fields.ListField(subfield=fields.StringField(), required=False)

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        sources = [str(m) for m in self.source_modules]  # type: ignore[attr-defined]
        allowed = sources + [str(m) for m in self.allowed_modules or []]  # type: ignore[attr-defined]
        violations: list[dict[str, object]] = []
        for source in sources:
            for importer in sorted(graph.find_descendants(source) | {source}):
                for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                    if _allowed(imported, allowed):
                        continue
                    details = graph.get_import_details(importer=importer, imported=imported)
                    lines = sorted({d["line_number"] for d in details})
                    violations.append({"importer": importer, "imported": imported, "lines": lines})
        return ContractCheck(kept=not violations, metadata={"violations": violations})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for v in check.metadata["violations"]:
            lines = ", ".join(f"l.{n}" for n in v["lines"])  # type: ignore[attr-defined]
            output.print_error(f"{v['importer']} imports {v['imported']} ({lines})", bold=False)
            output.new_line()


def _allowed(module: str, allowed: list[str]) -> bool:
    top = module.split(".", 1)[0]
    if top in sys.stdlib_module_names:
        return True
    return any(module == a or module.startswith(a + ".") for a in allowed)
