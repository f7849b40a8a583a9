#!/usr/bin/env python3
"""Elastic restarts for `mpirun ttl-train train`, as torchrun's elastic mode offers them.

    cluster/ttl-launch.py --hostfile HOSTS [--restarts 3] [--grace 30] [--mpirun-arg ARG]... \\
        -- /path/to/ttl-train train JOB.yaml [--threads 1 ...]

Runs mpirun over the hosts of HOSTS (`host slots=N` lines; ranks fill them in order, Open MPI's
default mapping). When the job ends because a collective timed out (exit status 69, every rank
that could still talk having printed `… no answer from rank R …`), the hosts of the ranks that did
not answer are dropped and the job starts again on the others with `--resume auto` — it continues
from its newest checkpoint with exactly the bits it would have had, on any number of ranks — up
to --restarts times; each restart is recorded in the run's metrics.h5 (`restarts`). Open MPI
4.1.4's mpirun keeps waiting for its daemon on an unreachable host after the ranks are gone, so
once a rank has printed its line mpirun gets --grace seconds to exit and is then killed.

Python 3 standard library only (cluster nodes have no venv). Exit status: the job's last one.
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

TIMEOUT_EXIT = 69
LOST = re.compile(r"^ttl-train: rank \d+ of \d+: .*; no answer from ranks? ([\d, ]+); ending the job \(exit status "
    r"69\)")


def read_hosts(path):
    """[(host, slots)] of a hostfile, in order."""
    hosts = []
    for number, line in enumerate(open(path, encoding="utf-8"), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        slots = 1
        for field in fields[1:]:
            if field.startswith("slots="):
                if not field[6:].isdigit() or int(field[6:]) < 1:
                    sys.exit(f"ttl-launch: {path}:{number}: slots must be a positive integer")
                slots = int(field[6:])
        hosts.append((fields[0], slots))
    if not hosts:
        sys.exit(f"ttl-launch: {path}: names no host")
    return hosts


def attempt(hosts, mpirun_args, command, grace):
    """Runs the job once on `hosts`; returns (exit status, ranks reported lost)."""
    with tempfile.NamedTemporaryFile("w", prefix="ttl-launch-hosts-", suffix=".txt", delete=False) as handle:
        handle.write("".join(f"{host} slots={slots}\n" for host, slots in hosts))
        hostfile = handle.name
    ranks = sum(slots for _, slots in hosts)
    process = subprocess.Popen(["mpirun", "--hostfile", hostfile, "-np", str(ranks), *mpirun_args, *command],
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    lost, reported = set(), threading.Event()

    def relay():
        for line in process.stderr:
            sys.stderr.write(line)
            sys.stderr.flush()
            match = LOST.match(line)
            if match:
                lost.update(int(rank) for rank in match.group(1).replace(" ", "").split(","))
                reported.set()

    reader = threading.Thread(target=relay, daemon=True)
    reader.start()
    while process.poll() is None:
        if reported.wait(timeout=0.5):
            deadline = time.monotonic() + grace
            while process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
            if process.poll() is None:
                print(f"ttl-launch: mpirun still runs {grace:g} s after a rank reported a lost peer; ending "
                    f"it", file=sys.stderr)
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                os.unlink(hostfile)
                return TIMEOUT_EXIT, lost
    reader.join(timeout=5)
    os.unlink(hostfile)
    status = process.returncode
    return (TIMEOUT_EXIT if lost and status != 0 else status), lost


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hostfile", required=True)
    parser.add_argument("--restarts", type=int, default=3, help="restarts after a lost host, at most (default 3)")
    parser.add_argument("--grace", type=float, default=30, help="seconds mpirun gets to exit after a rank reported a "
        "lost peer")
    parser.add_argument("--mpirun-arg", action="append", default=[], help="an argument for mpirun (repeatable)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- ttl-train train JOB.yaml [options]")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command or args.restarts < 0 or args.grace <= 0:
        parser.error("give -- ttl-train train JOB.yaml …, --restarts ≥ 0 and --grace > 0")
    hosts = read_hosts(args.hostfile)
    extra = []
    for restart in range(args.restarts + 1):
        status, lost = attempt(hosts, args.mpirun_arg, command + extra, args.grace)
        if status != TIMEOUT_EXIT or not lost or restart == args.restarts:
            return status
        by_rank = [host for host, slots in hosts for _ in range(slots)]
        gone = sorted({by_rank[rank] for rank in lost if rank < len(by_rank)})
        hosts = [(host, slots) for host, slots in hosts if host not in gone]
        if not hosts:
            print("ttl-launch: no host is left", file=sys.stderr)
            return status
        reason = (f"restart {restart + 1}: rank{'s' if len(lost) > 1 else ''} {', '.join(map(str, sorted(lost)))} on "
                  f"{', '.join(gone)} lost (collective timeout); continuing on {sum(s for _, s in hosts)} rank(s)")
        print(f"ttl-launch: {reason}", file=sys.stderr)
        extra = ([] if "--resume" in command else ["--resume", "auto"]) + ["--restart-reason", reason]
    return status


if __name__ == "__main__":
    sys.exit(main())
