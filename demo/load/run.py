#!/usr/bin/env python3
"""The demo's load run: wrk on loopback against tether-demo, bounded in time.

Modes:

  check       wrk (GET /users/{random id}) while a second process keeps connecting, sending a
              slow request and hanging up mid-request. Afterwards it checks that
                * /debug/contexts.json lists no context and /metrics tether_demo_registry_tracked
                  is 0 (polled, bounded) — no request context outlived its request;
                * the service has as many threads (/proc/PID/status) as before the load.
              Exit 0 when both hold. The ctest test demo.load runs it with --duration 5.

                run.py check --demo build/demo/tether-demo [--duration 10]
                run.py check --port 8080 --pid 1234         (a service already running)

  throughput  Alternates runs of `tether-demo --registry off`, `tether-demo-baseline` (the same
              service with background() instead of derived contexts on the request path) and
              `tether-demo --registry on`, 5 rounds each, same data, no artificial
              latency, wrk -t2 -c32 -d10s; prints the median requests/s per variant and the
              ratio off/baseline as a Markdown section (also written to --output).

                run.py throughput --demo build/demo/tether-demo \\
                                  --baseline build/demo/tether-demo-baseline --output FILE

  disconnect  The disconnecting client on its own (check starts it as a second process):
              connect, send a slow request, hang up after 10-150 ms, repeat until --duration.

Only the standard library and Debian's wrk. Every wait is bounded; a service this script
started is stopped (SIGTERM, then SIGKILL) whatever happens.
"""

import argparse
import datetime
import http.client
import json
import os
import platform
import random
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
USERS_LUA = os.path.join(HERE, "users.lua")
SLOW_QUERY = "profile_latency=2000&preferences_latency=2000&activity_latency=2000"


def log(msg):
    print(msg, flush=True)


# ---- the service --------------------------------------------------------------------------


class Service:
    """A tether-demo started by this script: --port 0, its port read from the first log line.

    Its stdout goes straight to a file (not through this process: parsing thousands of log
    lines a second here would take CPU from the service being measured)."""

    def __init__(self, program, args, work_dir, name, start_timeout=180.0):
        os.makedirs(work_dir, exist_ok=True)
        self.log_path = os.path.join(work_dir, name + ".log")
        self._stderr = open(os.path.join(work_dir, name + ".stderr"), "w")
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen([program, "--port", "0", *args], stdout=self._log,
                                     stderr=self._stderr)
        self.pid = self.proc.pid
        first = self._first_line(start_timeout)
        try:
            fields = json.loads(first) if first else None
        except ValueError:
            fields = None
        if not isinstance(fields, dict) or fields.get("msg") != "listening":
            self.stop()
            raise RuntimeError(
                "%s did not start with a \"listening\" line (got %r); see %s and its .stderr"
                % (program, first, self.log_path))
        self.port = int(fields["port"])

    def _first_line(self, timeout):
        """The first complete line of the log file (polled, bounded), or None."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.log_path) as f:
                line = f.readline()
            if line.endswith("\n"):
                return line
            if self.proc.poll() is not None:
                return line or None
            time.sleep(0.02)
        return None

    def stop(self, timeout=15.0):
        """SIGTERM, wait (bounded), SIGKILL if needed. Returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        self._stderr.close()
        return self.proc.returncode


def http_get(port, path, timeout=5.0):
    """(status, body) of GET http://127.0.0.1:port/path; (0, error text) on failure."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read().decode("utf-8", "replace")
    except (OSError, http.client.HTTPException) as e:
        return 0, str(e)
    finally:
        conn.close()


def metric(text, name, labels=None):
    """The sum of the samples of a Prometheus text exposition called name (with labels)."""
    total, found = 0.0, False
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)', line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        if labels and any(got.get(k) != v for k, v in labels.items()):
            continue
        total += float(m.group(4))
        found = True
    return total if found else None


def thread_count(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_busy_seconds():
    """CPU time all processes have used (every core), from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid):
    """CPU time (user + system) process pid has used, from /proc/PID/stat."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


# ---- clients ------------------------------------------------------------------------------


def run_wrk(wrk, port, users, duration, threads=2, connections=32):
    """Runs wrk (bounded: duration + 30 s); returns a dict of what it reported."""
    cmd = [
        wrk, "-t%d" % threads, "-c%d" % connections, "-d%ds" % duration, "--timeout", "5s",
        "-s", USERS_LUA, "http://127.0.0.1:%d" % port, "--", str(users),
    ]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 30).stdout
    except subprocess.TimeoutExpired:
        return {"error": "wrk did not finish within %d s" % (duration + 30), "rps": 0.0}
    result = {"output": out, "rps": 0.0, "requests": 0, "non2xx": 0, "socket_errors": ""}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m:
        result["rps"] = float(m.group(1))
    m = re.search(r"(\d+) requests in", out)
    if m:
        result["requests"] = int(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        result["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: (.*)", out)
    if m:
        result["socket_errors"] = m.group(1).strip()
    if not result["requests"]:
        result["error"] = "wrk reported no requests:\n" + out
    return result


def disconnect_loop(port, users, duration):
    """Connect, send a slow request, hang up 10-150 ms later; repeat for `duration` s."""
    rng = random.Random()
    deadline = time.monotonic() + duration
    count, failures = 0, 0
    while time.monotonic() < deadline:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
            req = "GET /users/%d?%s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" % (
                rng.randint(1, users), SLOW_QUERY)
            s.sendall(req.encode())
            time.sleep(rng.uniform(0.010, 0.150))
            s.close()
            count += 1
        except OSError:
            failures += 1
            time.sleep(0.01)
    return count, failures


# ---- modes --------------------------------------------------------------------------------


def wait_until(pred, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def registry_state(port):
    """(number of contexts in /debug/contexts.json, tether_demo_registry_tracked)."""
    status, body = http_get(port, "/debug/contexts.json")
    contexts = None
    if status == 200:
        try:
            contexts = len(json.loads(body).get("contexts", []))
        except ValueError:
            contexts = None
    status, text = http_get(port, "/metrics")
    tracked = metric(text, "tether_demo_registry_tracked") if status == 200 else None
    return contexts, tracked


def mode_check(args):
    service = None
    if args.port:
        port, pid = args.port, args.pid
        if not pid:
            sys.exit("run.py check: --port needs --pid (the thread count is read from /proc)")
    else:
        service = Service(args.demo, ["--data-dir", args.data_dir, "--users", str(args.users)],
                          args.work_dir, "check-service")
        port, pid = service.port, service.pid
    problems = []
    try:
        log("tether-demo on port %d (pid %d); warming up" % (port, pid))
        # Warm-up, so that lazily started threads (the deadline timer, pools) exist before the
        # thread count is taken: normal requests, and one client that hangs up.
        for i in range(1, 6):
            status, body = http_get(port, "/users/%d" % i)
            if status != 200:
                problems.append("warm-up GET /users/%d: %s %s" % (i, status, body[:100]))
        disconnect_loop(port, args.users, 0.3)
        wait_until(lambda: registry_state(port) == (0, 0.0), 5)
        threads_before = thread_count(pid)
        status, text = http_get(port, "/metrics")
        gone_before = metric(text, "tether_demo_requests_total", {"status": "499"}) or 0.0
        log("threads before the load: %s" % threads_before)

        log("load: wrk -t2 -c32 -d%ds on /users/{1..%d}, and a second process hanging up "
            "mid-request, for %d s" % (args.duration, args.users, args.duration))
        hanger = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "disconnect", "--port", str(port),
             "--users", str(args.users), "--duration", str(args.duration)],
            stdout=subprocess.PIPE, text=True)
        wrk = run_wrk(args.wrk, port, args.users, args.duration)
        try:
            hung_up = json.loads(hanger.communicate(timeout=args.duration + 30)[0])
        except (subprocess.TimeoutExpired, ValueError):
            hanger.kill()
            hung_up = {"count": 0, "failures": -1}
        if "error" in wrk:
            problems.append(wrk["error"])
        log("wrk: %d requests, %.0f requests/s, non-2xx %d%s" % (
            wrk.get("requests", 0), wrk["rps"], wrk.get("non2xx", 0),
            ", socket errors: " + wrk["socket_errors"] if wrk.get("socket_errors") else ""))
        log("disconnecting client: %d requests abandoned mid-flight (%d connect failures)" % (
            hung_up["count"], hung_up["failures"]))
        if hung_up["count"] == 0:
            problems.append("the disconnecting client abandoned no request")

        # After the load: the registry empties (bounded), and the thread count comes back.
        state = wait_until(lambda: (lambda s: s if s == (0, 0.0) else None)(registry_state(port)),
                           args.settle)
        contexts, tracked = state if state else registry_state(port)
        log("after the load: /debug/contexts.json lists %s contexts, "
            "tether_demo_registry_tracked %s" % (
                contexts, "%.0f" % tracked if tracked is not None else "missing"))
        if contexts != 0 or tracked != 0.0:
            problems.append("contexts left in the registry %.0f s after the load: %s listed, "
                            "tracked %s" % (args.settle, contexts, tracked))
        threads_after = wait_until(
            lambda: (lambda n: n if n == threads_before else None)(thread_count(pid)),
            args.settle) or thread_count(pid)
        log("threads after the load: %s (before: %s)" % (threads_after, threads_before))
        if threads_after != threads_before:
            problems.append("thread count %s after the load, %s before" % (
                threads_after, threads_before))
        status, text = http_get(port, "/metrics")
        gone_after = metric(text, "tether_demo_requests_total", {"status": "499"}) or 0.0
        log("requests logged 499 (client gone) during the load: %.0f" % (gone_after - gone_before))
        if gone_after <= gone_before:
            problems.append("no request was logged 499: the hang-ups did not reach the service")
    finally:
        if service:
            code = service.stop()
            if code != 0:
                problems.append("tether-demo exited %s after SIGTERM" % code)
    if problems:
        log("load check: FAILED\n  - " + "\n  - ".join(problems))
        return 1
    log("load check: ok (no context left in the registry, no thread growth)")
    return 0


def mode_disconnect(args):
    count, failures = disconnect_loop(args.port, args.users, args.duration)
    print(json.dumps({"count": count, "failures": failures}), flush=True)
    return 0


def machine():
    model = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return "%s, %d cores" % (model, os.cpu_count() or 0)


def mode_throughput(args):
    variants = [
        ("`tether-demo --registry off`", args.demo, ["--registry", "off"]),
        ("`tether-demo-baseline` (background())", args.baseline, []),
        ("`tether-demo --registry on`", args.demo, ["--registry", "on"]),
    ]
    names = [v[0] for v in variants]
    results = {name: [] for name in names}
    non2xx = {name: 0 for name in names}
    cpu_us = {name: [] for name in names}
    rounds = []  # per round: {name: requests/s}
    loads = []
    # Random ids read the whole database: load its files into the page cache first, so the
    # first run of the first round does not pay for cold disk reads the others do not.
    # (A service that has not seeded yet does it here, before anything is measured.)
    Service(args.demo, ["--data-dir", args.data_dir, "--users", str(args.users)],
            args.work_dir, "throughput-seed").stop()
    for entry in sorted(os.listdir(args.data_dir)):
        path = os.path.join(args.data_dir, entry)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                while f.read(1 << 20):
                    pass
    started = datetime.datetime.now(datetime.timezone.utc)
    for r in range(args.rounds):
        order = variants[r % len(variants):] + variants[:r % len(variants)]  # rotate
        this_round = {}
        for name, program, flags in order:
            service = Service(program, ["--data-dir", args.data_dir, "--users", str(args.users),
                                        *flags], args.work_dir, "throughput-service")
            try:
                run_wrk(args.wrk, service.port, args.users, args.warmup, args.threads,
                        args.connections)
                # CPU used meanwhile by everything but this service and wrk (wrk is a
                # waited-for child: its time shows in RUSAGE_CHILDREN once it has exited).
                t0, all0 = time.monotonic(), cpu_busy_seconds()
                svc0, kids0 = process_cpu_seconds(service.pid), children_cpu_seconds()
                wrk = run_wrk(args.wrk, service.port, args.users, args.duration, args.threads,
                              args.connections)
                service_cpu = process_cpu_seconds(service.pid) - svc0
                foreign = (cpu_busy_seconds() - all0 - service_cpu
                           - (children_cpu_seconds() - kids0))
                loads.append(max(0.0, foreign) / (time.monotonic() - t0))
            finally:
                service.stop()
            if "error" in wrk:
                log("round %d, %s: %s" % (r + 1, name, wrk["error"]))
                return 1
            # Non-2xx answers (504s when a request waits past its 500 ms deadline on a
            # saturated machine) are counted by wrk in requests/s; the report lists them.
            non2xx[name] += wrk["non2xx"]
            # The service's own CPU time per request: a second view of the cost, which
            # does not count the time other processes take the cores away (it still varies
            # with caches and frequency on a shared machine).
            cpu_us[name].append(service_cpu / max(1, wrk["requests"]) * 1e6)
            results[name].append(wrk["rps"])
            this_round[name] = wrk["rps"]
            log("round %d/%d  %-40s %8.0f requests/s  %5.0f us CPU/request  (non-2xx %d; "
                "other processes: %.2f cores)" % (r + 1, args.rounds, name, wrk["rps"],
                                                  cpu_us[name][-1], wrk["non2xx"], loads[-1]))
        rounds.append(this_round)
    off_name, base_name, on_name = names
    med = {name: statistics.median(v) for name, v in results.items()}
    best = {name: max(v) for name, v in results.items()}
    # The same round's runs are seconds apart: their ratio sees the least drift of the load.
    round_ratios = [x[off_name] / x[base_name] for x in rounds if x[base_name]]
    ratio_median = med[off_name] / med[base_name] if med[base_name] else float("nan")
    ratio_rounds = statistics.median(round_ratios) if round_ratios else float("nan")
    ratio_best = best[off_name] / best[base_name] if best[base_name] else float("nan")
    # How much runs of one binary vary here: beyond 3%, a 3% verdict is noise.
    spread = max([(max(v) / min(v) - 1) for v in results.values() if min(v) > 0] or [0.0])
    command = "python3 demo/load/run.py throughput " + " ".join(sys.argv[2:])
    lines = [
        "## Demo service throughput: registry off vs. background()",
        "",
        "Measured with `%s` on %s UTC (%s; other processes and kernel threads used %.2f-%.2f "
        "cores during the measured runs): "
        "`wrk -t%d -c%d -d%ds` on loopback against `GET /users/{random id}` (ids 1..%d), "
        "no artificial latency, %d rounds with the variants in rotating order, each run on a "
        "fresh service after a %d s warm-up. The baseline is the same service built with "
        "`tether::background()` in place of every context derived on the request path."
        % (command, started.strftime("%Y-%m-%d %H:%M"), machine(), min(loads), max(loads),
           args.threads, args.connections, args.duration, args.users, args.rounds,
           args.warmup),
        "",
        "| variant | requests/s per run | median | best | service CPU per request (median) "
        "| non-2xx (all runs) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    cpu_med = {name: statistics.median(v) for name, v in cpu_us.items()}
    for name in names:
        lines.append("| %s | %s | %.0f | %.0f | %.0f µs | %d |" % (
            name, ", ".join("%.0f" % x for x in results[name]), med[name], best[name],
            cpu_med[name], non2xx[name]))
    lines += [
        "",
        "Registry off / baseline: **%.3f** (medians), %.3f (median of the per-round ratios), "
        "%.3f (best runs). Registry on / off: %.3f (medians). Service CPU per request, "
        "baseline / registry off: %.3f (medians; 1.0 = the contexts cost nothing)." % (
            ratio_median, ratio_rounds, ratio_best,
            med[on_name] / med[off_name] if med[off_name] else float("nan"),
            cpu_med[base_name] / cpu_med[off_name] if cpu_med[off_name] else float("nan")),
        "",
    ]
    if args.rounds < 2:
        lines.append("One run per variant: no verdict on the 3% target (use --rounds 3 or more).")
    elif spread > 0.03:
        lines.append(
            "Runs of the same binary differ by up to %.0f%% here, more than the 3%% target "
            "allows between registry off and the baseline: this run can neither confirm nor "
            "refute the target. Run it on an idle machine (\"other processes\" above says how "
            "busy this one was)." % (spread * 100))
    else:
        lines.append("The target: registry off within 3%% of the baseline (ratio >= 0.97): "
                     "%s." % ("met" if ratio_median >= 0.97 else "NOT met"))
    lines.append("")
    text = "\n".join(lines)
    print("\n" + text)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
        log("written to %s" % args.output)
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n", 2)[2])
    sub = p.add_subparsers(dest="mode", required=True)
    default_build = os.path.join(HERE, "..", "..", "build", "demo")

    def common(sp):
        sp.add_argument("--demo", default=os.path.join(default_build, "tether-demo"),
                        help="the tether-demo executable")
        sp.add_argument("--wrk", default="wrk", help="the wrk executable")
        sp.add_argument("--users", type=int, default=1000, help="ids 1..N are requested")
        sp.add_argument("--work-dir", default=os.path.join(default_build, "load"),
                        help="where the service's log files go")

    c = sub.add_parser("check", help="load with disconnecting clients, then leak checks")
    common(c)
    c.add_argument("--data-dir", default=os.path.join(default_build, "load-data"))
    c.add_argument("--duration", type=int, default=10, help="seconds of wrk")
    c.add_argument("--settle", type=float, default=5.0,
                   help="seconds allowed for the registry and thread count to settle")
    c.add_argument("--port", type=int, help="use a service already running on this port")
    c.add_argument("--pid", type=int, help="its process id (with --port)")

    t = sub.add_parser("throughput", help="registry off vs. background() baseline vs. on")
    common(t)
    t.add_argument("--baseline", default=os.path.join(default_build, "tether-demo-baseline"))
    t.add_argument("--data-dir", default=os.path.join(default_build, "demo-data"))
    t.add_argument("--rounds", type=int, default=5)
    t.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    t.add_argument("--warmup", type=int, default=2, help="seconds of wrk before each run")
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--connections", type=int, default=32)
    t.add_argument("--output", help="also write the Markdown section to this file")
    t.set_defaults(users=100000)  # the data the tour seeds in demo-data

    d = sub.add_parser("disconnect", help="the disconnecting client alone")
    d.add_argument("--port", type=int, required=True)
    d.add_argument("--users", type=int, default=1000)
    d.add_argument("--duration", type=float, default=10)

    args = p.parse_args()
    if args.mode == "check":
        return mode_check(args)
    if args.mode == "throughput":
        return mode_throughput(args)
    return mode_disconnect(args)


if __name__ == "__main__":
    sys.exit(main())
