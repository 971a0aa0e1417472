#!/usr/bin/env python3
"""Was the machine quiet while a benchmark family ran? (`make bench`, `make bench-http`, ...)

The 1-minute load average cannot say: it counts the benchmark's own threads, so a family
that keeps two threads busy holds a 2-core machine's load at 1.2-1.3 with nothing else
running, and a family measured right after a busy one inherits its load. What steals time
from a benchmark is CPU used by *other* processes. This script measures exactly that: the
machine's busy CPU time over the window (/proc/stat) minus the CPU time of the benchmark
script and every child it waited for (/proc/PID/stat: utime, stime, cutime, cstime).

    token=$(python3 bench/quiet.py start $$)     # $$: the benchmark script's own PID
    ... run the family's processes as children of that script (and wait for them) ...
    python3 bench/quiet.py stop "$token"          # prints: others-cpu load-before load-after

others-cpu is the average number of CPUs other processes kept busy during the window
(0.05 = 5 % of one CPU). A run is quiet when no window's others-cpu exceeds
OTHERS_CPU_LIMIT:

    read -r quiet limit < <(python3 bench/quiet.py judge 0.01 0.03)   # prints "1 0.15"

(1 quiet, 0 busy; bench/compare.py reads the limit itself). Children that were not waited for when `stop` runs (still running, or daemons) are
counted as "others": stop the family's servers before calling `stop`. Python standard
library only; Linux only.
"""

import os
import sys
import time

# A window is quiet when other processes used at most this many CPUs on average.
OTHERS_CPU_LIMIT = 0.15


def busy_ticks():
    """All CPUs' busy time in clock ticks: user, nice, system, irq, softirq, steal."""
    with open("/proc/stat", encoding="ascii") as f:
        fields = f.readline().split()
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[1:9])
    return user + nice + system + irq + softirq + steal


def own_ticks(pid):
    """The CPU time of `pid` and of every child it has waited for, in clock ticks."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        stat = f.read()
    # Field 2 (comm) may contain spaces: count from the closing parenthesis.
    fields = stat[stat.rindex(")") + 2:].split()
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])  # fields 14-17 of stat
    return utime + stime + cutime + cstime


def load1():
    with open("/proc/loadavg", encoding="ascii") as f:
        return float(f.read().split()[0])


def start(pid):
    return f"{pid}:{time.monotonic():.6f}:{busy_ticks()}:{own_ticks(pid)}:{load1():.2f}"


def measure(token):
    """(others-cpu, load-before, load-after, seconds) since `token`."""
    pid, t0, busy0, own0, load0 = token.split(":")
    seconds = time.monotonic() - float(t0)
    hz = os.sysconf("SC_CLK_TCK")
    others = (busy_ticks() - int(busy0)) - (own_ticks(int(pid)) - int(own0))
    return max(others, 0) / hz / max(seconds, 1e-3), float(load0), load1(), seconds


def main(argv):
    if len(argv) == 3 and argv[1] == "start":
        print(start(int(argv[2])))
        return 0
    if len(argv) == 3 and argv[1] == "stop":
        others, before, after, _seconds = measure(argv[2])
        print(f"{others:.3f} {before:.2f} {after:.2f}")
        return 0
    if len(argv) >= 3 and argv[1] == "judge":
        quiet = max(float(x) for x in argv[2:]) <= OTHERS_CPU_LIMIT
        print(f"{1 if quiet else 0} {OTHERS_CPU_LIMIT:g}")
        return 0
    print("usage: quiet.py start PID | stop TOKEN | judge OTHERS-CPU...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
