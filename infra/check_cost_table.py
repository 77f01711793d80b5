#!/usr/bin/env python3
"""Checks the cost estimate in docs/deploy-aws.md and docs/deploy-aws.zh-CN.md: each
guide's cost table (the one whose last row is the total) adds up to its total, and both
guides give the same amounts. Standard library only. Usage: infra/check_cost_table.py [root]
"""
import re
import sys
from pathlib import Path

TOTAL = re.compile(r"^\|\s*\*\*(Total|合计)\*\*\s*\|.*\|\s*\*\*\D*([0-9.]+)\*\*\s*\|\s*$")


def amounts(text: str, name: str):
    rows = []
    for line in text.splitlines():
        m = TOTAL.match(line)
        if m:
            return rows, float(m.group(2))
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if re.fullmatch(r"[0-9]+\.[0-9]{2}", cells[-1]):
                rows.append(float(cells[-1]))
        else:
            rows = []
    raise SystemExit(f"check_cost_table: {name}: no cost table with a **Total**/**合计** row")


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent)
    results, errors = {}, []
    for name in ["docs/deploy-aws.md", "docs/deploy-aws.zh-CN.md"]:
        rows, total = amounts((root / name).read_text(encoding="utf-8"), name)
        results[name] = rows
        if abs(sum(rows) - total) > 0.005:
            errors.append(f"{name}: the items add up to {sum(rows):.2f}, the total says {total:.2f}")
    a, b = results.values()
    if a != b:
        errors.append(f"the two guides' cost tables differ: {a} vs {b}")
    if errors:
        print("check_cost_table: " + "; ".join(errors), file=sys.stderr)
        return 1
    print(f"check_cost_table: {len(a)} items add up to the total in both guides")
    return 0


if __name__ == "__main__":
    sys.exit(main())
