"""Fail the build when a package falls below its coverage floor (read from a Cobertura XML).

Floors follow the plan: the domain and the repositories at 85% of lines; the import code (the
legacy and pykrx-CSV parsers, whose every branch is exercised, and the importer around them).
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET

# path prefix (relative to the package roots) -> (minimum line rate, minimum branch rate)
FLOORS: dict[str, tuple[float, float]] = {
    "krstock/domain/": (0.85, 0.0),
    "krstock/db/": (0.85, 0.0),
    "krstock/marketdata/legacy": (0.95, 0.95),
    "krstock/marketdata/krx_csv": (0.95, 0.95),
    "krstock/ingest/": (0.90, 0.85),
}


def main(path: str) -> int:
    root = ET.parse(path).getroot()
    totals: dict[str, list[int]] = {k: [0, 0, 0, 0] for k in FLOORS}
    for cls in root.iter("class"):
        filename = cls.get("filename", "")
        for prefix in FLOORS:
            if prefix in filename:
                for line in cls.iter("line"):
                    totals[prefix][0] += 1
                    totals[prefix][1] += int(line.get("hits", "0")) > 0
                    cond = line.get("condition-coverage")
                    if cond:
                        covered, total = cond.split("(")[1].rstrip(")").split("/")
                        totals[prefix][2] += int(total)
                        totals[prefix][3] += int(covered)
    failed = False
    for prefix, (lines, hit, branches, bhit) in totals.items():
        if lines == 0:
            continue
        line_rate = hit / lines
        branch_rate = bhit / branches if branches else 1.0
        need_line, need_branch = FLOORS[prefix]
        ok = line_rate >= need_line and branch_rate >= need_branch
        failed |= not ok
        print(
            f"coverage {prefix:32} lines {line_rate:6.1%} (floor {need_line:.0%})  "
            f"branches {branch_rate:6.1%} (floor {need_branch:.0%})  {'ok' if ok else 'BELOW'}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ".coverage.xml"))
