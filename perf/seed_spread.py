"""Each row's spread over training seeds in two runs' score tables, side by side.

Usage: python perf/seed_spread.py BEFORE/scores.csv AFTER/scores.csv [--names BEFORE AFTER]

Reads the `overall_by_replicate` column that `cmoe table` writes for runs with `replicates`
> 1 and prints, per row (method, teacher, via, model), the mean overall accuracy and the
spread (max − min over replicates) in each run, as a Markdown table. A row missing from one
run is shown with empty cells there. Used for the README's demo table (the demo's settings
before and after its students' epochs were raised).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

LABELS = ("method", "teacher", "via", "model")


def read(path: Path) -> dict[tuple, list[float]]:
    """Each row's overall accuracy per replicate, in %."""
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    if rows and "overall_by_replicate" not in rows[0]:
        sys.exit(f"{path}: no overall_by_replicate column (written by cmoe table)")
    return {
        tuple(r[k] for k in LABELS): [100 * float(v) for v in r["overall_by_replicate"].split()]
        for r in rows
    }


def cell(values: list[float] | None) -> list[str]:
    if not values:
        return ["", ""]
    return [f"{sum(values) / len(values):.1f}", f"{max(values) - min(values):.1f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--names", nargs=2, default=("before", "after"))
    args = parser.parse_args()
    runs = [read(args.before), read(args.after)]
    a, b = args.names
    print(f"| row | {a}: mean | {a}: spread | {b}: mean | {b}: spread |")
    print("|---|---|---|---|---|")
    for key in dict.fromkeys([*runs[0], *runs[1]]):
        if max(len(run.get(key) or []) for run in runs) < 2:
            continue  # one replicate (bases, teachers): nothing spreads
        name = " / ".join(x for x in key if x != "-")
        print("| " + " | ".join([name, *cell(runs[0].get(key)), *cell(runs[1].get(key))]) + " |")


if __name__ == "__main__":
    main()
