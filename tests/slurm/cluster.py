"""A throwaway single-node Slurm cluster (Slurm 22.05, Debian 12) for testing the Slurm profile.

    python tests/slurm/cluster.py up [DIR]     # prints `export SLURM_CONF=DIR/slurm.conf PATH=...`
    python tests/slurm/cluster.py down DIR

Everything lives in one folder (default: a new /tmp/cmoe-slurm-*): slurm.conf, gres.conf, state,
spool, logs, PID files, and a private MUNGE daemon with its own key and socket. Nothing under
/etc is written or read except /etc/munge/munge.key as a template, and the ports are picked free,
so a machine's own Slurm or MUNGE (if any) is left alone. Clients find this cluster only through
``SLURM_CONF``: export it for `sbatch`/`squeue` (and Snakemake), and never into other processes.

Made for containers and CI runners without systemd or cgroups, as root (``SlurmUser=root``):
process tracking by /proc (proctrack/linuxproc), no task binding (task/none), cores and memory as
consumable resources (select/cons_tres), no accounting database (so `sacct` does not work; use
`squeue`, and MinJobAge keeps finished jobs visible to `scontrol show job` for an hour).

GPUs are fake: ``gres.conf`` declares ``Name=gpu`` entries backed by character devices (created
with mknod under DIR/dev; /dev/null, a character device too, when mknod is not permitted), so
`--gpus=N` jobs are scheduled and get ``CUDA_VISIBLE_DEVICES`` like on a GPU node. A TaskProlog
appends each task's job id, step id and ``CUDA_VISIBLE_DEVICES`` to DIR/log/task_env.log, so a
test can prove what the job itself saw.

Install first: ``apt-get install -y slurm-wlm munge``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

DAEMONS = ("slurmctld", "slurmd", "munged")
MUNGE_KEY = Path("/etc/munge/munge.key")


def available() -> str | None:
    """Why this machine cannot run the cluster, or None when it can."""
    missing = [b for b in ("slurmctld", "slurmd", "sbatch", "munged") if not shutil.which(b)]
    if missing:
        return f"not installed: {', '.join(missing)} (apt-get install -y slurm-wlm munge)"
    if os.geteuid() != 0:
        return "the test cluster runs its daemons as root"
    return None


@dataclass
class Cluster:
    root: Path
    nodename: str
    gpus: int

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        """What a client (sbatch, squeue, snakemake) needs to reach this cluster."""
        return {"SLURM_CONF": str(self.conf)}

    def client_env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """``base`` (default: os.environ) plus SLURM_CONF, and DIR/bin first on PATH: its `srun`
        restores SLURM_CONF inside jobs, where snakemake-executor-plugin-slurm-jobstep (0.6)
        drops every SLURM_* variable before it calls srun. A real cluster has its config at
        /etc/slurm or served by slurmctld (configless), so it needs no such shim."""
        base = dict(os.environ if base is None else base)
        path = base.get("PATH", os.defpath)
        return {**base, **self.env, "PATH": f"{self.root / 'bin'}{os.pathsep}{path}"}

    def pidfile(self, daemon: str) -> Path:
        return self.root / "run" / f"{daemon}.pid"

    def pids(self) -> dict[str, int]:
        """{daemon: pid} from the PID files that exist."""
        out = {}
        for d in DAEMONS:
            f = self.pidfile(d)
            if f.exists() and f.read_text().strip():
                out[d] = int(f.read_text().split()[0])
        return out

    def run(self, *cmd: str, check=True, timeout=30) -> subprocess.CompletedProcess:
        """A Slurm client command against this cluster."""
        env = {**os.environ, **self.env}
        return subprocess.run(
            cmd, capture_output=True, text=True, env=env, check=check, timeout=timeout
        )

    def jobs(self) -> list[dict[str, str]]:
        """Every job slurmctld still holds (finished ones for MinJobAge), `scontrol` fields."""
        out = self.run("scontrol", "--details", "--oneliner", "show", "job").stdout
        return [_fields(line) for line in out.splitlines() if line.startswith("JobId=")]

    def queue(self) -> list[str]:
        """Job ids still pending or running."""
        return self.run("squeue", "--noheader", "--format=%i").stdout.split()

    def task_env(self) -> list[dict[str, str]]:
        """One row per task started: job id, step id and CUDA_VISIBLE_DEVICES (TaskProlog)."""
        path = self.root / "log" / "task_env.log"
        if not path.exists():
            return []
        return [_fields(line) for line in path.read_text().splitlines() if line.strip()]


def _fields(line: str) -> dict[str, str]:
    fields = {}
    for token in line.split():
        key, sep, value = token.partition("=")
        if sep:
            fields[key] = value
    return fields


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _mem_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise RuntimeError("no MemTotal in /proc/meminfo")


def _gpu_files(root: Path, gpus: int) -> list[str]:
    """Character devices for the fake GPUs: mknod'ed (major 195 as NVIDIA's) or /dev/null."""
    dev = root / "dev"
    dev.mkdir(exist_ok=True)
    files = []
    for i in range(gpus):
        path = dev / f"nvidia{i}"
        try:
            os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(195, i))
            files.append(str(path))
        except OSError:
            return ["/dev/null"]  # no CAP_MKNOD: one fake GPU on /dev/null
    return files


def _wait(what: str, ok, timeout: float, log: Path | None = None, pidfile=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ok():
            return
        pid = pidfile.read_text().split() if pidfile and pidfile.exists() else []
        if pid and not alive(int(pid[0])):  # (an empty file: being written)
            timeout = 0  # it died: say why now
            break
        time.sleep(0.2)
    tail = log.read_text()[-3000:] if log and log.exists() else ""
    why = "exited" if timeout == 0 else f"did not come up within {timeout:.0f} s"
    raise RuntimeError(f"{what} {why}\n{tail}")


def _daemon(cmd: list[str], **kwargs) -> None:
    """Start a daemon that forks into the background; fail with what it said if it cannot."""
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30, **kwargs)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()}")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (our own child not yet reaped) counts as gone
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def write_config(root: Path, gpus: int = 2) -> Cluster:
    """slurm.conf, gres.conf and the folders they name, under ``root``."""
    nodename = socket.gethostname().split(".")[0]
    for sub in ("state", "spool", "log", "run"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    cpus = len(os.sched_getaffinity(0))
    # leave the OS and the test runner some memory; jobs ask for their mem_mb out of the rest
    mem = max(1024, _mem_mb() - min(2048, _mem_mb() // 4))
    files = _gpu_files(root, gpus)
    gpus = len(files)
    (root / "bin").mkdir(exist_ok=True)
    shim = root / "bin" / "srun"
    shim.write_text(
        "#!/bin/sh\n"
        "# srun for this test cluster, also where a job's environment lost SLURM_CONF\n"
        f'SLURM_CONF={root}/slurm.conf exec {shutil.which("srun") or "/usr/bin/srun"} "$@"\n'
    )
    shim.chmod(0o755)
    prolog = root / "task_prolog.sh"
    prolog.write_text(
        "#!/bin/sh\n"
        "# one line per task: what Slurm put into its environment\n"
        f'echo "job=$SLURM_JOB_ID step=$SLURM_STEP_ID'
        f' cuda_visible_devices=${{CUDA_VISIBLE_DEVICES:-unset}}" >> {root}/log/task_env.log\n'
    )
    prolog.chmod(0o755)
    (root / "gres.conf").write_text(
        "".join(f"NodeName={nodename} Name=gpu File={f}\n" for f in files)
    )
    munge = root / "munge"
    conf = f"""\
# Generated by tests/slurm/cluster.py: a single-node test cluster, no systemd, no cgroups.
ClusterName=cmoe-test
SlurmctldHost={nodename}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge}/munge.socket
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/run/slurmctld.pid
SlurmdPidFile={root}/run/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
TaskProlog={prolog}
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={root}/log/jobcomp.log
# keep finished jobs in `scontrol show job` (and squeue's view) for an hour
MinJobAge=3600
ReturnToService=2
SlurmdParameters=config_overrides
GresTypes=gpu
NodeName={nodename} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={mem} Gres=gpu:{gpus} State=UNKNOWN
# Preemption as on a shared cluster: a job of `urgent` takes the node from the jobs of `debug`,
# which get SIGTERM, KillWait seconds to save, SIGKILL, and go back to the queue (PreemptMode=
# REQUEUE; GraceTime 0, the default; a requeued job is eligible again after 2 min)
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
KillWait=30
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP PriorityTier=1
PartitionName=urgent Nodes=ALL MaxTime=INFINITE State=UP PriorityTier=2 PreemptMode=OFF
"""
    (root / "slurm.conf").write_text(conf)
    return Cluster(root, nodename, gpus)


def _start_munge(root: Path) -> None:
    """A private munged, as the munge user, with a copy of the machine's key (or a new one)."""
    munge = root / "munge"
    munge.mkdir(exist_ok=True)
    key = munge / "munge.key"
    if MUNGE_KEY.exists():
        shutil.copyfile(MUNGE_KEY, key)
    else:
        subprocess.run(["mungekey", "--create", f"--keyfile={key}"], check=True)
    shutil.chown(munge, "munge", "munge")
    shutil.chown(key, "munge", "munge")
    # munged insists: socket folder searchable by all, writable by no one else; key private
    munge.chmod(0o755)
    key.chmod(0o600)
    root.chmod(0o755)
    _daemon(
        [
            "munged",
            f"--socket={munge}/munge.socket",
            f"--key-file={key}",
            f"--pid-file={munge}/munged.pid",
            f"--log-file={munge}/munged.log",
            f"--seed-file={munge}/munged.seed",
        ],
        user="munge",
        group="munge",
        extra_groups=[],
    )
    _wait("munged", lambda: (munge / "munged.pid").exists(), 10, munge / "munged.log")
    # one PID file folder for all three daemons (munged's stays in its own, private, folder)
    link = root / "run" / "munged.pid"
    if not link.exists():
        link.symlink_to(munge / "munged.pid")


def up(root: Path | None = None, gpus: int = 2, timeout: float = 60) -> Cluster:
    """Write the config, start munged, slurmctld and slurmd, and wait until the node is idle."""
    reason = available()
    if reason:
        raise RuntimeError(f"cannot start a Slurm test cluster: {reason}")
    root = Path(root or tempfile.mkdtemp(prefix="cmoe-slurm-")).resolve()
    root.mkdir(parents=True, exist_ok=True)
    cluster = write_config(root, gpus)
    env = {**os.environ, **cluster.env}
    try:
        _start_munge(root)
        # -i: ignore (here: absent) saved state; both daemons fork and write their PID files
        _daemon(["slurmctld", "-i"], env=env)
        _wait(
            "slurmctld",
            lambda: cluster.run("scontrol", "ping", check=False, timeout=10).returncode == 0,
            timeout,
            root / "log" / "slurmctld.log",
            cluster.pidfile("slurmctld"),
        )
        _daemon(["slurmd"], env=env)

        def node_ready():
            state = cluster.run("sinfo", "--noheader", "--format=%T", check=False).stdout
            return state.strip() in {"idle", "mixed", "allocated"}

        _wait(
            "slurmd (node idle)",
            node_ready,
            timeout,
            root / "log" / "slurmd.log",
            cluster.pidfile("slurmd"),
        )
    except BaseException:
        down(root)
        raise
    return cluster


def down(root: Path, timeout: float = 20) -> dict[str, int]:
    """Stop slurmd, slurmctld and munged by their PID files; return the PIDs that were stopped.

    Jobs still running are killed with slurmd (SIGTERM to its job steps)."""
    cluster = Cluster(Path(root), "", 0)
    pids = cluster.pids()
    if "slurmctld" in pids and alive(pids["slurmctld"]):
        cluster.run("scancel", "--full", "--user=root", check=False, timeout=10)
    for daemon in DAEMONS:  # node first, controller next, authentication last
        pid = pids.get(daemon)
        if pid is None or not alive(pid):
            continue
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
    return pids


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="start a cluster in DIR (default: a new temp folder)")
    p_up.add_argument("dir", nargs="?", type=Path)
    p_up.add_argument("--gpus", type=int, default=2, help="fake GPUs on the node (default 2)")
    p_down = sub.add_parser("down", help="stop the cluster in DIR by its PID files")
    p_down.add_argument("dir", type=Path)
    args = parser.parse_args(argv)
    if args.command == "up":
        cluster = up(args.dir, args.gpus)
        print(f"export SLURM_CONF={cluster.conf} PATH={cluster.root / 'bin'}:$PATH")
        print(f"# stop with: python {sys.argv[0]} down {cluster.root}", file=sys.stderr)
    else:
        stopped = down(args.dir)
        print(" ".join(f"{d}={p}" for d, p in stopped.items()) or "nothing was running")
    return 0


if __name__ == "__main__":
    sys.exit(main())
