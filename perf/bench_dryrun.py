"""How long `snakemake -n` takes to resolve the real study's graph (no GPU, no hub access).

Usage: python perf/bench_dryrun.py [--repeats 5]
Runs in an empty temporary directory so no existing results are consulted. Reports the median
of the repeats, the number of jobs, and the start-up floor (`snakemake --version`).
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(cmd: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return time.perf_counter() - t0, proc.stdout


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--configfile", nargs="+", default=[str(ROOT / "config" / "config.yaml")])
    args = p.parse_args()
    snakemake = [sys.executable, "-m", "snakemake"]
    floor = statistics.median(timed([*snakemake, "--version"])[0] for _ in range(args.repeats))
    times, jobs = [], None
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as workdir:
            seconds, out = timed(
                [
                    *snakemake,
                    "-n",
                    "--quiet",
                    "rules",
                    "--cores",
                    "1",
                    "--snakefile",
                    str(ROOT / "Snakefile"),
                    "--directory",
                    workdir,
                    "--configfile",
                    *args.configfile,
                ]
            )
        times.append(seconds)
        m = re.search(r"^total\s+(\d+)$", out, re.M)
        jobs = int(m.group(1)) if m else jobs
    print(f"config: {' + '.join(Path(c).name for c in args.configfile)}; jobs: {jobs}")
    print(
        f"snakemake -n: median {statistics.median(times):.2f} s "
        f"(min {min(times):.2f}, max {max(times):.2f}, n={len(times)})"
    )
    print(f"start-up floor (snakemake --version): median {floor:.2f} s")


if __name__ == "__main__":
    main()
