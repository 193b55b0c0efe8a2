"""Start-up of every rule kind: from process start to the job's first real work.

Usage: python perf/bench_startup.py WORKDIR SNAKEMAKE_LOG [--repeats 3] [--warm] [--out FILE]

WORKDIR is a checkout whose run has finished; SNAKEMAKE_LOG is that run's Snakemake output
(the local profile prints every job's shell command). For each rule, the first job's command
is run again in WORKDIR with ``CMOE_STARTUP_PROBE=1`` (src/cmoe/cli/probe.py): the job stops,
before it reads or writes anything, at the first time its handler opens one of the run's
files. The wall time of that process, as the workflow starts it (`bash -c`, the checkout's
``src`` on PYTHONPATH), is its start-up. The table also lists the heavy libraries the job had
imported by then, and the median wall time of the rule's jobs in that run where the rule writes
a `benchmark:` file. With --warm, jobs start as `startup.warm: true` starts them: forked from
the warm server (src/cmoe/cli/warm.py), which the first job starts and later jobs reuse.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

RULE = re.compile(r"^(?:local)?rule (\w+):$")
COMMAND = "Shell command: "
REDIRECT = re.compile(r"\s+>\s+\S+\s+2>&1\s*$")


def shell_commands(log: Path) -> dict[str, list[str]]:
    """Every job's shell command in a Snakemake log, by rule, without its log redirection (and
    without the `exec` that generate and train put first)."""
    commands: dict[str, list[str]] = {}
    rule = None
    for line in log.read_text("utf-8", errors="replace").splitlines():
        if m := RULE.match(line.strip()):
            rule = m.group(1)
        elif line.startswith(COMMAND) and rule:
            command = REDIRECT.sub("", line[len(COMMAND) :]).removeprefix("exec ")
            commands.setdefault(rule, []).append(command)
            rule = None
    return commands


def job_walls(workdir: Path, rule: str) -> list[float]:
    walls = []
    for tsv in workdir.glob(f"results/**/benchmarks/{rule}/**/*.tsv"):
        with tsv.open() as fh:
            walls += [float(row["s"]) for row in csv.DictReader(fh, delimiter="\t")]
    return walls


def probe(workdir: Path, command: str, warm: bool) -> tuple[float, str]:
    env = {**os.environ, "CMOE_STARTUP_PROBE": "1", "PYTHONPATH": str(workdir / "src")}
    env.pop("CMOE_WARM", None)
    if warm:
        env["CMOE_WARM"] = "1"
    env.pop("VIRTUAL_ENV_PROMPT", None)
    t0 = time.perf_counter()
    proc = subprocess.run(
        ["bash", "-c", command], cwd=workdir, env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - t0
    line = next((x for x in proc.stderr.splitlines() if x.startswith("startup probe:")), None)
    if proc.returncode != 0 or line is None:
        tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        return seconds, f"(no probe: exit {proc.returncode}, {tail[0][:80]})"
    return seconds, line.split("| heavy: ", 1)[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("workdir", type=Path)
    p.add_argument("log", type=Path)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warm", action="store_true", help="jobs fork from the warm server")
    p.add_argument("--out", type=Path, help="also write the table here")
    args = p.parse_args()
    workdir = args.workdir.resolve()
    lines = [
        "| rule | jobs | start-up, median (s) | heavy modules at first work "
        "| job wall, median (s) |",
        "|---|---|---|---|---|",
    ]
    for rule, commands in shell_commands(args.log).items():
        if not commands[0].startswith("python -m cmoe "):
            continue  # `all` and any rule that runs no stage
        count = len(commands)
        runs = [probe(workdir, commands[0], args.warm) for _ in range(args.repeats)]
        startup = statistics.median(s for s, _ in runs)
        walls = job_walls(workdir, rule)
        wall = f"{statistics.median(walls):.1f}" if walls else "-"
        row = f"| `{rule}` | {count} | {startup:.2f} | {runs[-1][1]} | {wall} |"
        lines.append(row)
        print(row, file=sys.stderr, flush=True)
    table = "\n".join(lines) + "\n"
    print(table)
    if args.out:
        tmp = args.out.with_suffix(args.out.suffix + ".tmp")
        tmp.write_text(table)
        tmp.replace(args.out)


if __name__ == "__main__":
    main()
