#!/usr/bin/env python3
"""Was the machine quiet while a benchmark family ran? (`make bench`, `make bench-http`, ...)

Two things spoil a side-by-side figure without showing in the benchmark's own output:

* Other processes. The 1-minute load average cannot say: it counts the benchmark's own
  threads, so a family that keeps two threads busy holds a 2-core machine's load at
  1.2-1.3 with nothing else running, and a family measured right after a busy one inherits
  its load. This script measures the CPU *other* processes used: the machine's busy CPU time
  over the window (/proc/stat) minus the CPU time of the benchmark script and every child it
  waited for (/proc/PID/stat: utime, stime, cutime, cstime).
* A slower host. A virtual machine's host can slow every vCPU down (a busy neighbour on the
  same physical core, a lower clock) with nothing to see in /proc/stat: in one quiet run both
  Go and tether ran a family at half their usual speed. When TETHER_HOST_SPEED_PROBE names
  the probe (bench/host_speed.cpp, target tether_host_speed: the time of a fixed CPU job and
  of a fixed walk through memory), `start` and `stop` run it, and the window's slowdown is
  the largest of its figures ÷ TETHER_HOST_SPEED_REF, the calibration the script took once
  at its start (`calibrate`: the fastest of five probes, figure by figure).

    export TETHER_HOST_SPEED_PROBE=build-bench/bench/tether_host_speed
    export TETHER_HOST_SPEED_REF=$(python3 bench/quiet.py calibrate)
    token=$(python3 bench/quiet.py start $$)     # $$: the benchmark script's own PID
    ... run the family's processes as children of that script (and wait for them) ...
    python3 bench/quiet.py stop "$token"   # prints: others-cpu load-before load-after slowdown

others-cpu is the average number of CPUs other processes kept busy during the window
(0.05 = 5 % of one CPU); slowdown is 1.00 at the calibrated speed ("-" without the probe).
A window is quiet when others-cpu ≤ OTHERS_CPU_LIMIT and slowdown ≤ HOST_SLOWDOWN_LIMIT:

    read -r quiet limit slow_limit < <(python3 bench/quiet.py judge 0.01:1.02 0.03:-)
    # prints "1 0.15 1.1": 1 quiet, 0 busy; a bare "0.01" means no probe was taken

(bench/compare.py reads the limits itself). Children that were not waited for when `stop`
runs (still running, or daemons) are counted as "others": stop the family's servers before
calling `stop`. Python standard library only; Linux only.
"""

import os
import subprocess
import sys
import time

# A window is quiet when other processes used at most this many CPUs on average,
OTHERS_CPU_LIMIT = 0.15
# and the host ran at most this much slower than at the run's calibration (the probe's
# repetitions vary by about 1 % on a quiet host; the slow host seen ran at half speed).
HOST_SLOWDOWN_LIMIT = 1.10


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


def probe(repetitions=5):
    """The host-speed probe's times in microseconds (smaller is faster; tether_host_speed
    prints two: CPU and memory), or None when TETHER_HOST_SPEED_PROBE is not set. A failing
    probe is an error, not a quiet host."""
    path = os.environ.get("TETHER_HOST_SPEED_PROBE")
    if not path:
        return None
    out = subprocess.run([path, str(repetitions)], check=True, capture_output=True,
                         text=True).stdout
    return [float(x) for x in out.split()]


def calibrate():
    """The run's reference speed: the fastest of five probes, each of its figures."""
    speeds = [probe() for _ in range(5)]
    if None in speeds:
        raise SystemExit("quiet.py calibrate: set TETHER_HOST_SPEED_PROBE to tether_host_speed")
    return [min(figures) for figures in zip(*speeds)]


def start(pid):
    """The window's token. The probe runs first, so that its CPU is not in the window."""
    speed = probe()
    return (f"{pid}:{time.monotonic():.6f}:{busy_ticks()}:{own_ticks(pid)}:{load1():.2f}:"
            f"{'-' if speed is None else ','.join(map(str, speed))}")


def slowdown(probes):
    """How much slower the host ran in a window's probes than at the calibration
    (TETHER_HOST_SPEED_REF, comma-separated like the probe's figures): the largest ratio of
    any figure of any probe, or None without a probe."""
    ref = os.environ.get("TETHER_HOST_SPEED_REF")
    if None in probes or not ref:
        return None
    ref = [float(x) for x in ref.split(",")]
    return max(p / r for figures in probes for p, r in zip(figures, ref))


def measure(token):
    """(others-cpu, load-before, load-after, seconds, slowdown or None) since `token`."""
    pid, t0, busy0, own0, load0, speed0 = token.split(":")
    seconds = time.monotonic() - float(t0)
    hz = os.sysconf("SC_CLK_TCK")
    others = (busy_ticks() - int(busy0)) - (own_ticks(int(pid)) - int(own0))
    load_after = load1()
    before = None if speed0 == "-" else [float(x) for x in speed0.split(",")]
    return (max(others, 0) / hz / max(seconds, 1e-3), float(load0), load_after, seconds,
            slowdown([before, probe()]))


def window_is_quiet(window):
    """`window` is "OTHERS" or "OTHERS:SLOWDOWN" (SLOWDOWN may be "-": no probe)."""
    others, _, slow = window.partition(":")
    if float(others) > OTHERS_CPU_LIMIT:
        return False
    return slow in ("", "-") or float(slow) <= HOST_SLOWDOWN_LIMIT


def main(argv):
    if len(argv) == 3 and argv[1] == "start":
        print(start(int(argv[2])))
        return 0
    if len(argv) == 3 and argv[1] == "stop":
        others, before, after, _seconds, slow = measure(argv[2])
        print(f"{others:.3f} {before:.2f} {after:.2f} {'-' if slow is None else f'{slow:.3f}'}")
        return 0
    if len(argv) == 2 and argv[1] == "calibrate":
        print(",".join(f"{x:.1f}" for x in calibrate()))
        return 0
    if len(argv) >= 3 and argv[1] == "judge":
        quiet = all(window_is_quiet(w) for w in argv[2:])
        print(f"{1 if quiet else 0} {OTHERS_CPU_LIMIT:g} {HOST_SLOWDOWN_LIMIT:g}")
        return 0
    print("usage: quiet.py start PID | stop TOKEN | calibrate | judge OTHERS[:SLOWDOWN]...",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
