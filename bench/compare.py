#!/usr/bin/env python3
"""Puts Go's context benchmarks and tether's ports side by side (`make bench`).

Reads the text output of Go's suites (`go test -run XXX -bench . -benchmem context`, or the
compiled test binary with the same flags, and bench/go/scale) and the JSON output of
tether_bench (Google Benchmark), prints one table, judges every target (docs/performance.md, "Targets"),
and writes the whole comparison as JSON plus a PNG chart of the ratios (gnuplot,
bench/ratios.gp).

    compare.py --go go.txt [--go more.txt] --tether a.json [--tether b.json ...]
               [--loads loads.tsv] --json run.json --chart run.png
               [--compiler /usr/bin/c++] [--commit abc1234] [--quick]
               [--publish latest.json latest.png docs/performance.md]
    compare.py --source-version       prints the sources' commit (for bench/run.sh)

A benchmark measured in several rounds (bench/run.sh alternates Go and tether family by
family, three rounds) counts with the median of its runs; the spread (max − min) ÷ median
is reported beside it. Every time target needs a quiet machine: a family during which other
processes used more than bench/quiet.py's OTHERS_CPU_LIMIT CPUs on average (--loads:
family, round, others-cpu, load before, load after) gets "no verdict", never "met". The
1-minute load average is recorded beside it; it judges only files written before
bench/quiet.py existed (family, round, load before, load after: above LOAD_LIMIT_PER_CPU ×
nproc, no verdict), because it counts the benchmark's own threads. Only a full run in which every
target got a verdict is publishable: --publish then copies it to the published JSON and
chart and rewrites the generated section of docs/performance.md; otherwise the run says it
is not publishable and stays in --json/--chart. Python standard library only. A missed
target is a result, not an error: the exit status is non-zero only when an input is
missing or unreadable.
"""

import argparse
import datetime
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quiet import HOST_SLOWDOWN_LIMIT, OTHERS_CPU_LIMIT  # noqa: E402  (bench/quiet.py, beside this file)

# tether ns/op ÷ Go ns/op, both from the same run. A name matches a target when the regular
# expression matches the whole benchmark name.
RATIO_TARGETS = [
    (r"CheckCanceled/Err", 0.25),
    (r"CheckCanceled/Done", 0.25),
    (r"ContextCancelDone", 0.5),
    (r"CancelTree/depth=\d+/Root=\w+", 0.35),
    (r"WithTimeout/concurrency=\d+", 0.35),
    (r"CommonParentCancel", 0.7),
    (r"DeepValueSameGoRoutine/depth=10", 0.4),
    (r"DeepValueSameGoRoutine/depth=100", 0.05),
    (r"TimeoutsCancel/order=\w+/n=1000000", 0.5),
]
# A ratio target is judged on the median of the rounds (issue 13: "report medians"; a run
# must meet its targets, and so must the next run). The worst single round (tether's run r ÷
# Go's run r, measured back to back) is shown beside the median, for information: before
# 2026-11-30 evening CommonParentCancel and CancelTree were judged on it, a rule stricter than
# the that a host slowing down for one side of one round decided.
# Old loads files only (no others-cpu column): a time target is judged only if the 1-minute
# load average stayed at or below this many runnable threads per CPU (2 CPUs: 1.2).
LOAD_LIMIT_PER_CPU = 0.6
# "Flat in n": the cost per context at the largest n at most this multiple of the smallest.
FLAT_GROWTH_MAX = 2.0
FLAT_FAMILIES = [r"TimeoutsCancel/order=oldest", r"TimeoutsCancel/order=newest"]
# Families whose operation is a batch of n contexts (bench/scale.cpp, bench/go/scale):
# the table shows ns per context, ns/op ÷ n.
PER_CONTEXT_FAMILIES = ("TimeoutsCancel", "ScaleLiveTimeouts", "ScaleFanOut", "ScaleChain")
# tether on GOMAXPROCS threads must be no slower per operation than on one thread.
THREAD_SCALING = [r"WithTimeout/concurrency=\d+"]
# Heap allocations per derived context (Go: 2–5).
ALLOCS_PER_DERIVED_CONTEXT_MAX = 1.0
# Resident memory of one million live timeouts.
LIVE_TIMEOUTS_RESIDENT_MB_MAX = 150.0

# Go has no benchmark that derives a single context; these Go rows derive N contexts per
# operation, so their allocs/op ÷ N is Go's allocations per derived context.
GO_ALLOCS_PER_DERIVED = {
    "DerivedContext/with_cancel": ("CancelTree/depth=1000/Root=Background", 1000),
    "DerivedContext/with_timeout": ("WithTimeout/concurrency=40", 10),
}

NOTES = {
    "DeepValueNewGoRoutine": "tether: hand-off to an already running thread (no goroutines in C++)",
    "CancelWakeLatency": "ns/op is the mean; see p50/p99 below",
    "CancelFanOut": "one cancel() reaching every child; ns/op ÷ children = per child",
    "WithValueChain": "builds and frees the whole chain; ns/op ÷ depth = per value",
    "LiveTimeouts": "create + cancel per timeout, with up to n pending",
    "CommonParentCancelFloor": "CommonParentCancel's 200 divisions alone, in each language",
    "RegistryRequestTree": "a request's 6 contexts; registry_off vs no_registry_call = its cost when off",
    "RegistrySnapshot": "one snapshot of 100 tracked request trees (500 contexts)",
    "TimeoutsCancel": "ns per cancel, n one-hour timeouts live (creating them is not timed)",
    "ScaleLiveTimeouts": "ns per timeout: create n (up to n pending), cancel them oldest first",
    "ScaleFanOut": "ns per child: one cancel() of a parent with n children",
    "ScaleChain": "ns per context: one cancel() of the root of a chain of n",
}

# The order of tether's own benchmarks in the table (after Go's, which keep Go's order).
ADDITIONS_ORDER = ["CommonParentCancelFloor", "WithValueChain", "ValueHit", "AfterFuncRegisterStop",
                   "DerivedContext", "RegistryRequestTree", "RegistrySnapshot", "CancelFanOut",
                   "CancelWakeLatency", "LiveTimeouts", "TimeoutsCancel", "ScaleLiveTimeouts",
                   "ScaleFanOut", "ScaleChain"]

GB_SUFFIXES = re.compile(r"/(threads:\d+|real_time|manual_time|process_time|iterations:\d+|"
                         r"min_time:[\d.]+s?|repeats:\d+)")


def parse_go(paths):
    """Returns (rows, info): rows in Go's order, name → {ns_per_op (median), runs_ns, ...}."""
    rows, info = {}, {}
    line_re = re.compile(r"^Benchmark(\S+)\s+(\d+)\s+([\d.]+) ns/op"
                         r"(?:\s+([\d.]+) B/op\s+([\d.]+) allocs/op)?")
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for line in f:
                for key in ("goos", "goarch", "cpu", "pkg"):
                    if line.startswith(key + ":"):
                        info[key] = line.split(":", 1)[1].strip()
                m = line_re.match(line)
                if not m:
                    continue
                name = re.sub(r"-\d+$", "", m.group(1))  # Go appends -GOMAXPROCS when > 1
                row = rows.setdefault(name, {"runs_ns": [], "iterations": 0,
                                             "bytes_per_op": None, "allocs_per_op": None})
                row["runs_ns"].append(float(m.group(3)))
                row["iterations"] += int(m.group(2))
                if m.group(4):
                    row["bytes_per_op"] = float(m.group(4))
                    row["allocs_per_op"] = float(m.group(5))
    for row in rows.values():
        summarize_runs(row)
    return rows, info


def summarize_runs(row):
    """Sets ns_per_op (the median of the runs), spread ((max − min) ÷ median) and runs."""
    runs = row.get("runs_ns") or []
    row["runs"] = len(runs)
    if runs:
        row["ns_per_op"] = statistics.median(runs)
        row["spread"] = (max(runs) - min(runs)) / row["ns_per_op"] if row["ns_per_op"] else 0.0


TIME_UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
STANDARD_KEYS = {"name", "family_index", "per_family_instance_index", "run_name", "run_type",
                 "repetitions", "repetition_index", "threads", "iterations", "real_time",
                 "cpu_time", "time_unit", "error_occurred", "error_message", "label"}


def parse_tether(paths):
    """Returns (rows, context): rows in run order, name → {ns_per_op, counters...}."""
    rows, context = {}, {}
    for path in paths:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        ctx = data.get("context", {})
        context.update(ctx)
        # Each tether_bench process records when it started and the load average then.
        if "date" in ctx:
            context["dates"] = sorted(context.get("dates", []) + [ctx["date"]])
        if ctx.get("load_avg"):
            context["loads_1min"] = context.get("loads_1min", []) + [ctx["load_avg"][0]]
        for b in data.get("benchmarks", []):
            if b.get("run_type", "iteration") != "iteration":
                continue
            name = GB_SUFFIXES.sub("", b["name"])
            row = {"iterations": b.get("iterations"), "threads": b.get("threads", 1)}
            if b.get("error_occurred"):
                row["error"] = b.get("error_message", "error")
            else:
                # Real (wall) time, as Go measures; for parallel benchmarks Google Benchmark
                # divides it by the operations of all threads, as RunParallel does.
                unit = TIME_UNIT_NS[b.get("time_unit", "ns")]
                row["ns_per_op"] = b["real_time"] * unit
                # CPU time of all threads per operation (Google Benchmark sums the threads).
                row["cpu_ns_per_op"] = b["cpu_time"] * unit
            row["counters"] = {k: v for k, v in b.items()
                               if k not in STANDARD_KEYS and isinstance(v, (int, float))}
            # One entry per run (rounds of bench/run.sh, or repetitions): keep them all.
            previous = rows.get(name)
            if previous is None:
                row["runs_ns"], row["runs_cpu_ns"] = [], []
                rows[name] = previous = row
            elif "error" in row:
                previous["error"] = row["error"]
            else:
                previous["counters"] = row["counters"]
            if "error" not in row:
                previous["runs_ns"].append(row["ns_per_op"])
                previous["runs_cpu_ns"].append(row["cpu_ns_per_op"])
    for row in rows.values():
        summarize_runs(row)
        if row.get("runs_cpu_ns"):
            row["cpu_ns_per_op"] = statistics.median(row["runs_cpu_ns"])
        if row["runs"] == 0:
            row.pop("ns_per_op", None)
    return rows, context


def ratio_target(name):
    for pattern, limit in RATIO_TARGETS:
        if re.fullmatch(pattern, name):
            return limit
    return None


def per_context_n(name):
    """n for a benchmark whose operation is a batch of n contexts (ns/op ÷ n), else None."""
    if name.split("/")[0] not in PER_CONTEXT_FAMILIES:
        return None
    m = re.search(r"(?:^|/)n=(\d+)(?:/|$)", name)
    return int(m.group(1)) if m else None


def family_load(loads, name):
    """How busy the machine was while this benchmark's family ran (see read_loads), or None."""
    return loads.get(name.split("/")[0])


def quiet(load, load_limit):
    """Was the family measured on a quiet machine? Judged by other processes' CPU and the
    host's slowdown when they were recorded, else (old files) by the 1-minute load average."""
    if load is None:
        return False
    if load.get("slowdown") is not None and load["slowdown"] > HOST_SLOWDOWN_LIMIT:
        return False
    if load.get("others_cpu") is not None:
        return load["others_cpu"] <= OTHERS_CPU_LIMIT
    return load["load"] <= load_limit


def time_verdict(ok, load, load_limit):
    """A time target's verdict: only on a quiet machine."""
    if not quiet(load, load_limit):
        return "no verdict"
    return "met" if ok else "MISSED"


def worst_round_ratio(name, g, t):
    """The highest tether ÷ Go ratio of a single round (shown, not judged), else None."""
    if ratio_target(name) is None or not g or not t:
        return None
    pairs = list(zip(g.get("runs_ns") or [], t.get("runs_ns") or []))
    return max((tr / gr for gr, tr in pairs if gr), default=None)


def build_rows(go, tether, loads, load_limit):
    """One row per benchmark: Go's suites in Go's order, then tether's additions; then the
    derived checks (memory, flatness in n, thread scaling)."""
    rows = []
    def addition_rank(name):
        family = name.split("/")[0]
        return ADDITIONS_ORDER.index(family) if family in ADDITIONS_ORDER else len(ADDITIONS_ORDER)
    names = list(go) + sorted((n for n in tether if n not in go), key=addition_rank)
    if "CommonParentCancel" in names and "CommonParentCancelFloor" in names:
        # The floor (both sides since 2026-12-01) beside the benchmark it is the floor of.
        names.remove("CommonParentCancelFloor")
        names.insert(names.index("CommonParentCancel") + 1, "CommonParentCancelFloor")
    for name in names:
        g, t = go.get(name), tether.get(name)
        family = name.split("/")[0]
        per = per_context_n(name) or 1
        row = {
            "benchmark": name,
            "go_ns_per_op": g["ns_per_op"] / per if g else None,
            "go_spread": g.get("spread") if g else None,
            "tether_ns_per_op": t["ns_per_op"] / per if t and "ns_per_op" in t else None,
            "tether_spread": t.get("spread") if t else None,
            "go_allocs_per_op": (g["allocs_per_op"] / per if g and g["allocs_per_op"] is not None
                                 else None),
            "tether_allocs_per_op": (t["counters"].get("allocs_per_op") if t else None),
            "load": family_load(loads, name),
            "ratio": None,
            "target": None,
            "verdict": "",
            "note": NOTES.get(family, ""),
        }
        if t and "error" in t:
            row["note"] = "tether benchmark failed: " + t["error"]
        if row["go_ns_per_op"] and row["tether_ns_per_op"]:
            row["ratio"] = row["tether_ns_per_op"] / row["go_ns_per_op"]

        limit = ratio_target(name)
        if limit is not None:
            row["target"] = f"ratio ≤ {limit:g}"
            row["worst_round_ratio"] = worst_round_ratio(name, g, t)
            if row["ratio"] is None:
                row["verdict"] = "NO DATA"
            else:
                row["verdict"] = time_verdict(row["ratio"] <= limit, row["load"], load_limit)

        if family == "DerivedContext":
            # Allocations do not depend on the load: judged whatever it was.
            if name in GO_ALLOCS_PER_DERIVED:
                source, per_op = GO_ALLOCS_PER_DERIVED[name]
                if source in go and go[source]["allocs_per_op"] is not None:
                    row["go_allocs_per_op"] = go[source]["allocs_per_op"] / per_op
                    row["note"] = f"Go allocs: {source} allocs/op ÷ {per_op}"
            row["target"] = f"allocs ≤ {ALLOCS_PER_DERIVED_CONTEXT_MAX:g}"
            allocs = row["tether_allocs_per_op"]
            if allocs is None:
                row["verdict"] = "NO DATA"
            else:
                row["verdict"] = "met" if allocs <= ALLOCS_PER_DERIVED_CONTEXT_MAX else "MISSED"
        rows.append(row)

        if family == "LiveTimeouts" and t:
            rows.append(live_timeouts_memory_row(name, t))
        if name == "CommonParentCancelFloor" and t and g:
            rows += common_parent_bound_row(go, tether, row["load"])
    rows += flatness_rows(go, tether, loads, load_limit)
    rows += thread_scaling_rows(tether, loads, load_limit)
    return rows


def derived_row(name, target, verdict, note, **fields):
    row = {"benchmark": name, "go_ns_per_op": None, "tether_ns_per_op": None, "ratio": None,
           "go_spread": None, "tether_spread": None, "load": None,
           "go_allocs_per_op": None, "tether_allocs_per_op": None,
           "target": target, "verdict": verdict, "note": note}
    row.update(fields)
    return row


def common_parent_bound_row(go, tether, load):
    """The ratio CommonParentCancel would have were tether's contexts free: tether's floor
    (its 200 divisions alone) ÷ Go's CommonParentCancel. No target: it shows how much of
    the 0.7 target the floor leaves, measured in this run."""
    floor_t = tether["CommonParentCancelFloor"].get("ns_per_op")
    common_g = go.get("CommonParentCancel", {}).get("ns_per_op")
    if not floor_t or not common_g:
        return []
    return [derived_row("CommonParentCancel, tether's contexts free (floor ÷ Go)", None, "",
                        "the lowest ratio reachable: tether's floor ÷ Go's CommonParentCancel",
                        tether_ns_per_op=floor_t, go_ns_per_op=common_g,
                        ratio=floor_t / common_g, load=load)]


def live_timeouts_memory_row(name, t):
    mb = t["counters"].get("resident_MB")
    n = int(t["counters"].get("timeouts", 0))
    # Memory does not depend on the load: judged whatever it was.
    verdict = "NO DATA" if mb is None else (
        "met" if mb <= LIVE_TIMEOUTS_RESIDENT_MB_MAX else "MISSED")
    if n != 1000000 and mb is not None:
        verdict = "n/a (scaled-down run)"
    return derived_row(f"{name} resident MB",
                       f"≤ {LIVE_TIMEOUTS_RESIDENT_MB_MAX:g} MB"
                       + (" (at n=1000000)" if n != 1000000 else ""), verdict,
                       "resident-set growth while all are live (/proc/self/statm)",
                       resident_MB=mb)


def growth(rows, prefix):
    """(per-op cost at the largest n ÷ at the smallest n, smallest n, largest n) or None."""
    sizes = {}
    for name, r in rows.items():
        if name.startswith(prefix + "/n=") and r.get("ns_per_op"):
            sizes[per_context_n(name)] = r["ns_per_op"] / per_context_n(name)
    if len(sizes) < 2:
        return None
    lo, hi = min(sizes), max(sizes)
    return sizes[hi] / sizes[lo], lo, hi


def flatness_rows(go, tether, loads, load_limit):
    """Per family of scale rows: how much the cost per context grows from the smallest n to
    the largest, both sides; a target for the families of FLAT_FAMILIES."""
    prefixes = []
    for name in list(go) + list(tether):
        if per_context_n(name) is not None:
            prefix = name.rsplit("/n=", 1)[0]
            if prefix not in prefixes:
                prefixes.append(prefix)
    rows = []
    for prefix in prefixes:
        t, g = growth(tether, prefix), growth(go, prefix)
        if t is None:
            continue
        grow, lo, hi = t
        flat_target = any(re.fullmatch(p, prefix) for p in FLAT_FAMILIES)
        verdict = ""
        if flat_target:
            verdict = ("n/a (scaled-down run)" if hi < 1000000 else
                       time_verdict(grow <= FLAT_GROWTH_MAX, family_load(loads, prefix),
                                    load_limit))
        rows.append(derived_row(
            f"{prefix} growth n={lo}→{hi}",
            f"≤ {FLAT_GROWTH_MAX:g}× (flat)" if flat_target else None, verdict,
            "cost per context at the largest n ÷ at the smallest: 1 = flat",
            tether_growth=grow, go_growth=g[0] if g else None,
            load=family_load(loads, prefix)))
    return rows


def thread_scaling_rows(tether, loads, load_limit):
    """tether per operation on GOMAXPROCS threads ÷ on one thread (≤ 1: no slower)."""
    rows = []
    for name, r in tether.items():
        if not any(re.fullmatch(p, name) for p in THREAD_SCALING):
            continue
        one = tether.get(name + "/threads=1")
        if not one or not one.get("ns_per_op") or not r.get("ns_per_op"):
            continue
        threads = r.get("threads") or 1
        scaling = r["ns_per_op"] / one["ns_per_op"]
        rows.append(derived_row(
            f"{name} {threads} threads ÷ 1", "≤ 1 (no slower)",
            time_verdict(scaling <= 1.0, family_load(loads, name), load_limit),
            "tether ns/op on GOMAXPROCS threads ÷ ns/op on one thread",
            thread_scaling=scaling, load=family_load(loads, name)))
    return rows


def fmt_ns(v):
    if v is None:
        return "—"
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def fmt_num(v):
    if v is None:
        return "—"
    if v == int(v):
        return str(int(v))
    return f"{v:.2f}"


def fmt_ratio(v):
    if v is None:
        return "—"
    return f"{v:.3g}"


def fmt_spread(v):
    return "" if v is None else f"±{v * 50:.0f}%"  # half the range, around the median


def fmt_load(v):
    """others-cpu / 1-minute load / host slowdown, e.g. "0.03 / 1.25 / 1.02" (older files:
    without the slowdown, or the load alone)."""
    if v is None:
        return ""
    if v.get("others_cpu") is None:
        return f"{v['load']:.2f}"
    text = f"{v['others_cpu']:.2f} / {v['load']:.2f}"
    return text if v.get("slowdown") is None else f"{text} / {v['slowdown']:.2f}"


def table(rows):
    header = ["benchmark", "Go ns/op", "Go ±", "tether ns/op", "tether ±", "ratio", "target",
              "verdict", "others CPU / load / slowdown", "Go allocs/op", "tether allocs/op"]
    body = []
    for r in rows:
        go_ns, tether_ns = fmt_ns(r["go_ns_per_op"]), fmt_ns(r["tether_ns_per_op"])
        ratio = fmt_ratio(r["ratio"])
        if r.get("worst_round_ratio") is not None:
            ratio += f" (worst round {fmt_ratio(r['worst_round_ratio'])})"
        if r.get("resident_MB") is not None:
            tether_ns = f"{r['resident_MB']:.1f} MB"
        if r.get("tether_growth") is not None:
            tether_ns = f"{r['tether_growth']:.2f}×"
            go_ns = "—" if r.get("go_growth") is None else f"{r['go_growth']:.2f}×"
        if r.get("thread_scaling") is not None:
            tether_ns = f"{r['thread_scaling']:.2f}×"
        body.append([r["benchmark"], go_ns, fmt_spread(r.get("go_spread")), tether_ns,
                     fmt_spread(r.get("tether_spread")), ratio, r["target"] or "",
                     r["verdict"], fmt_load(r.get("load")),
                     fmt_num(r["go_allocs_per_op"]), fmt_num(r["tether_allocs_per_op"])])
    return header, body


RIGHT_ALIGNED = {1, 2, 3, 4, 5, 8, 9, 10}
VERDICT_COLUMN = 7


def render_text(header, body):
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]

    def line(cells):
        return "  ".join(str(c).rjust(w) if i in RIGHT_ALIGNED else str(c).ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    out = [line(header), line(["-" * w for w in widths])]
    out += [line(r) for r in body]
    return "\n".join(out)


def render_markdown(header, body):
    align = ["---:" if i in RIGHT_ALIGNED else "---" for i in range(len(header))]
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    for r in body:
        cells = [c.replace("|", "\\|") for c in map(str, r)]
        if cells[VERDICT_COLUMN] in ("MISSED", "NO DATA"):
            cells[VERDICT_COLUMN] = f"**{cells[VERDICT_COLUMN]}**"
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def details(tether, go=None):
    """Counters of tether's additions that the table has no column for."""
    lines = []
    floor = tether.get("CommonParentCancelFloor", {}).get("ns_per_op")
    # Go's own floor when the run measured it (bench/go/scale), else tether's: the same work.
    floor_g = (go or {}).get("CommonParentCancelFloor", {}).get("ns_per_op") or floor
    common_t = tether.get("CommonParentCancel", {}).get("ns_per_op")
    common_g = (go or {}).get("CommonParentCancel", {}).get("ns_per_op")
    if floor and common_t and common_g:
        above_t, above_g = common_t - floor, common_g - floor_g
        lines.append(f"CommonParentCancel: the 200 divisions alone take {floor:,.0f} ns/op in C++ "
                     f"and {floor_g:,.0f} in Go; above its floor Go spends {above_g:,.0f} ns/op "
                     f"and tether {above_t:,.0f} ns/op"
                     + (f" (ratio {above_t / above_g:.2f})" if above_g > 0 else "")
                     + f"; with free contexts tether's ratio would be {floor / common_g:.3f}")
    for name, t in tether.items():
        c = t["counters"]
        if name.startswith("CancelWakeLatency") and "p50_ns" in c:
            lines.append(f"{name}: p50 {c['p50_ns']:,.0f} ns, p99 {c['p99_ns']:,.0f} ns, "
                         f"max {c.get('max_ns', 0):,.0f} ns over {c.get('samples', 0):.0f} wake-ups"
                         + (f" ({c['unparked_samples']:.0f} without a parked waiter)"
                            if c.get("unparked_samples") else ""))
        if name.startswith("LiveTimeouts") and "resident_MB" in c:
            lines.append(f"{name}: resident +{c['resident_MB']:.1f} MB "
                         f"({c.get('resident_bytes_per_timeout', 0):.0f} B per timeout), "
                         f"heap +{c.get('heap_MB', 0):.1f} MB, "
                         f"create {c.get('create_ns', 0):.0f} ns, cancel {c.get('cancel_ns', 0):.0f} ns "
                         f"per timeout, {c.get('allocs_per_op', 0):.2f} allocs and "
                         f"{c.get('bytes_per_op', 0):.0f} B requested per timeout")
        if name.startswith("DerivedContext") and "bytes_per_op" in c:
            lines.append(f"{name}: {c['bytes_per_op']:.0f} B in "
                         f"{c.get('allocs_per_op', 0):.2f} allocations per derived context")
        threads = t.get("threads") or 1
        if threads > 1 and t.get("ns_per_op") and t.get("cpu_ns_per_op"):
            # Each op had ns_per_op × threads of thread time; how much of it ran on a CPU?
            on_cpu = t["cpu_ns_per_op"] / (t["ns_per_op"] * threads)
            if on_cpu < 0.8:
                lines.append(f"{name}: the {threads} threads were on a CPU only {on_cpu:.0%} "
                             f"of the wall time ({fmt_ns(t['cpu_ns_per_op'])} ns CPU per op): other "
                             f"processes held the CPUs, or the threads slept on a lock")
        if name.startswith("CancelFanOut") and t.get("ns_per_op"):
            m = re.search(r"children=(\d+)", name)
            if m:
                lines.append(f"{name}: {t['ns_per_op'] / int(m.group(1)):.1f} ns per child")
    return lines


def run(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def source_version():
    """The git commit the sources are at, "-dirty" if what tether_bench is built from differs."""
    commit = run(["git", "rev-parse", "--short", "HEAD"])
    # Uncommitted changes to what the benchmark binary is built from make the commit "-dirty".
    dirty = run(["git", "status", "--porcelain", "--untracked-files=no", "--", "src", "include",
                 "bench", "CMakeLists.txt", ":(exclude)bench/results"])
    return (commit + ("-dirty" if dirty else "")) if commit else None


def machine(compiler, commit, go_info, context):
    cpu = None
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    compiler_version = run([compiler, "--version"]) if compiler else None
    return {
        "nproc": os.cpu_count(),
        "gomaxprocs": int(context.get("gomaxprocs", 0)) or None,
        "cpu_model": cpu or go_info.get("cpu"),
        "kernel": platform.release(),
        "compiler": compiler_version.splitlines()[0] if compiler_version else None,
        "go": run(["go", "version"]),
        "google_benchmark_cpu_mhz": context.get("mhz_per_cpu"),
        "google_benchmark_library_build": context.get("library_build_type"),
        # The 1-minute load average at the start of each tether_bench process: min, max.
        "load_average_1min_range": ([min(context["loads_1min"]), max(context["loads_1min"])]
                                    if context.get("loads_1min") else None),
        "tether_commit": commit or source_version(),
    }


def chart(rows, png, subtitle):
    """Bar chart of the ratios (log scale) with the targets, drawn by bench/ratios.gp."""
    data = os.path.splitext(png)[0] + ".dat"
    low, high = 1.0, 1.0
    with open(data, "w", encoding="utf-8") as f:
        i = 0
        for r in rows:
            if r["ratio"] is None:
                continue
            limit = ratio_target(r["benchmark"])
            # Colour: 11 met, 12 missed, 13 no target (line types set in ratios.gp).
            colour = 13 if limit is None or r["verdict"] == "no verdict" else (
                11 if r["ratio"] <= limit else 12)
            low = min(low, r["ratio"], limit or 1.0)
            high = max(high, r["ratio"])
            f.write(f"{i}\t{r['benchmark']}\t{r['ratio']:.6g}\t"
                    f"{limit if limit is not None else '?'}\t{colour}\n")
            i += 1
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ratios.gp")
    # Room for every bar, every target and the Go line at 1.
    ymin = 10 ** math.floor(math.log10(low))
    ymax = max(2.0, high * 1.5)
    settings = f"data='{data}'; out='{png}'; subtitle='{subtitle}'; ymin={ymin:g}; ymax={ymax:g}"
    cmd = ["gnuplot", "-e", settings, script]
    try:
        subprocess.run(cmd, check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"compare.py: chart not drawn ({e})", file=sys.stderr)
        return False
    finally:
        os.remove(data)
    return True


DOC_BEGIN = "<!-- bench:begin (generated by bench/compare.py; do not edit by hand) -->"
DOC_END = "<!-- bench:end -->"


def update_doc(path, result, chart_path):
    """Replaces the generated section of docs/performance.md with this run's results."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    begin, end = text.find(DOC_BEGIN), text.find(DOC_END)
    if begin < 0 or end < begin:
        print(f"compare.py: {path} has no generated section; not updated", file=sys.stderr)
        return False
    m = result["machine"]
    chart_rel = os.path.relpath(os.path.abspath(chart_path),
                                os.path.dirname(os.path.abspath(path)))
    summary = result["summary"]
    lines = [
        DOC_BEGIN,
        "",
        f"Measured from {result['measured'] or '?'} to {result['generated_utc']} at tether "
        f"commit `{m['tether_commit']}`:",
        "",
        f"- CPU: {m['cpu_model']}, nproc {m['nproc']} (GOMAXPROCS and benchmark threads: "
        f"{m['gomaxprocs']})",
        f"- C++: {m['compiler']}, CMake Release build",
        f"- Go: {m['go']}",
        f"- {m['rounds']} rounds; in each, Go and tether alternate family by family; every "
        "figure is the median of the rounds, ± half the spread (max − min) around it",
        f"- kernel: Linux {m['kernel']}",
        "- " + quietness(m, result["load_limit"]),
        "",
        f"Targets met: **{summary['met']} of {summary['judged']}**"
        + (". Missed: " + ", ".join(f"`{n}`" for n in summary["missed"]) + "."
           if summary["missed"] else "."),
        "",
        result["markdown_table"],
        "",
        "Details:",
        "",
    ]
    lines += [f"- {d}" for d in result["details"]]
    lines += ["", f"![tether ns/op ÷ Go ns/op per benchmark]({chart_rel})", "", DOC_END]
    text = text[:begin] + "\n".join(lines) + text[end + len(DOC_END):]
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return True


def busy_rule(info, load_limit):
    """What made a family's time targets unjudgeable, in words."""
    if info.get("slowdown_range"):
        return (f"other processes above {OTHERS_CPU_LIMIT:g} CPUs, or the host more than "
                f"{HOST_SLOWDOWN_LIMIT:g}× slower than calibrated")
    if info.get("others_cpu_range"):
        return f"other processes above {OTHERS_CPU_LIMIT:g} CPUs"
    return f"1-minute load above {load_limit:g}"


def quietness(info, load_limit):
    """One sentence: how quiet the machine was, family by family, and the rule applied."""
    load, others = info.get("load_average_1min_range"), info.get("others_cpu_range")
    text = ("the highest 1-minute load average seen while a family ran: "
            + (f"{load[0]:.2f} to {load[1]:.2f}, by family" if load else "unknown"))
    slow = info.get("slowdown_range")
    if others and slow:
        return (f"CPUs used by other processes while a family ran (bench/quiet.py): "
                f"{others[0]:.2f} to {others[1]:.2f}, by family; the host's slowdown against "
                f"the run's calibration (bench/host_speed.cpp, probed before and after each "
                f"family round): {slow[0]:.2f}× to {slow[1]:.2f}×; a time target is judged only "
                f"at or below {OTHERS_CPU_LIMIT:g} CPUs and {HOST_SLOWDOWN_LIMIT:g}× (column "
                f"*others CPU / load / slowdown*: the highest of the rounds; a round the host "
                f"slowed down is run again, up to twice); {text} (the benchmark's own threads "
                "count in it, so it is recorded, not judged)")
    if others:
        return (f"CPUs used by other processes while a family ran (bench/quiet.py): "
                f"{others[0]:.2f} to {others[1]:.2f}, by family; a time target is judged only "
                f"at or below {OTHERS_CPU_LIMIT:g} (column *others CPU / load*: the highest "
                f"of the rounds); {text} (the benchmark's own threads count in it, so it is "
                "recorded, not judged)")
    return (f"{text}; a time target is judged only at or below {load_limit:g} "
            f"({LOAD_LIMIT_PER_CPU:g} × nproc), per family (column *load*: the highest seen)")


def read_loads(path):
    """family → {"load": the highest 1-minute load average recorded around any of its runs,
    "others_cpu": the most CPUs other processes used during any of its runs, "slowdown": the
    most the host was slowed down in any of its runs (None in files without that column)}.
    Columns: family round others-cpu load-before load-after slowdown (bench/quiet.py; "-": no
    probe); older files lack the slowdown, or also others-cpu."""
    loads = {}
    if not path:
        return loads
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    has_others = bool(lines) and "others-cpu" in lines[0]
    has_slowdown = bool(lines) and "slowdown" in lines[0]
    for line in lines:
        fields = line.split()
        if len(fields) < 3 or line.startswith("#"):
            continue
        slow = fields.pop() if has_slowdown else "-"
        values = [float(x) for x in fields[2:]]
        others = values.pop(0) if has_others else None
        entry = loads.setdefault(fields[0], {"load": 0.0, "others_cpu": None, "slowdown": None})
        entry["load"] = max(entry["load"], *values)
        if others is not None:
            entry["others_cpu"] = max(entry["others_cpu"] or 0.0, others)
        if slow != "-":
            entry["slowdown"] = max(entry["slowdown"] or 0.0, float(slow))
    return loads


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--go", required=True, action="append",
                   help="output of go test -bench . -benchmem (context, bench/go/scale)")
    p.add_argument("--tether", required=True, action="append", help="tether_bench JSON output")
    p.add_argument("--loads", help="loads.tsv of bench/run.sh: family, round, load before, after")
    p.add_argument("--json", required=True, help="where to write this run's comparison")
    p.add_argument("--chart", required=True, help="where to write this run's PNG chart")
    p.add_argument("--compiler", default="", help="the C++ compiler tether_bench was built with")
    p.add_argument("--commit", help="the sources' git commit when tether_bench was built "
                   "(default: now)")
    p.add_argument("--quick", action="store_true", help="mark the results as a quick run")
    p.add_argument("--rounds", type=int, default=1, help="rounds bench/run.sh made")
    p.add_argument("--publish", nargs=3, metavar=("JSON", "PNG", "MD"),
                   help="if every target got a verdict: copy the run here and rewrite the "
                   "generated section of MD (docs/performance.md)")
    args = p.parse_args()

    go, go_info = parse_go(args.go)
    tether, context = parse_tether(args.tether)
    if not go:
        sys.exit(f"compare.py: no Go benchmark results in {args.go}")
    if not tether:
        sys.exit("compare.py: no tether benchmark results")

    info = machine(args.compiler, args.commit, go_info, context)
    loads = read_loads(args.loads)
    if loads:
        highest = [v["load"] for v in loads.values()]
        info["load_average_1min_range"] = [min(highest), max(highest)]
        others = [v["others_cpu"] for v in loads.values() if v["others_cpu"] is not None]
        info["others_cpu_range"] = [min(others), max(others)] if others else None
        slow = [v["slowdown"] for v in loads.values() if v.get("slowdown") is not None]
        info["slowdown_range"] = [min(slow), max(slow)] if slow else None
    load_limit = LOAD_LIMIT_PER_CPU * (info["nproc"] or 1)
    rows = build_rows(go, tether, loads, load_limit)
    header, body = table(rows)
    info["rounds"] = args.rounds
    # A target without a measurement (a port that failed or was filtered out) is not met;
    # one measured on a busy machine is not judged at all.
    judged = [r for r in rows if r["verdict"] in ("met", "MISSED", "NO DATA")]
    missed = [r["benchmark"] + (" (no data)" if r["verdict"] == "NO DATA" else "")
              for r in judged if r["verdict"] != "met"]
    unjudged = [r["benchmark"] for r in rows if r["verdict"] == "no verdict"]
    publishable = not args.quick and not unjudged and not any(
        r["verdict"] == "NO DATA" for r in rows)

    print()
    print(render_text(header, body))
    notes = []
    for r in rows:
        if r["note"] and r["note"] not in notes:
            notes.append(r["note"])
            print(f"  {r['benchmark'].split('/')[0]}: {r['note']}")
    for line in details(tether, go):
        print("  " + line)
    print()
    print(f"targets met: {len(judged) - len(missed)} of {len(judged)} judged"
          + (f"; MISSED: {', '.join(missed)}" if missed else ""))
    if unjudged:
        print(f"NO VERDICT (the machine was busy while the family ran: {busy_rule(info, load_limit)}): "
              + ", ".join(unjudged))
    if args.quick:
        print("(quick run: short timings, rough numbers; not for docs/performance.md)")
    print(f"machine: {info['cpu_model']}, nproc {info['nproc']}, {info['compiler']}, {info['go']}")
    print(quietness(info, load_limit))

    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    result = {
        "generated_utc": datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%SZ"),
        # When the first tether_bench process started (Google Benchmark's clock).
        "measured": (context.get("dates") or [None])[0],
        "quick": args.quick,
        "publishable": publishable,
        "load_limit": load_limit,
        "others_cpu_limit": OTHERS_CPU_LIMIT,
        "host_slowdown_limit": HOST_SLOWDOWN_LIMIT,
        "loads_per_family": loads,
        "machine": info,
        "targets": {
            "ratio": {p: v for p, v in RATIO_TARGETS},
            "allocs_per_derived_context_max": ALLOCS_PER_DERIVED_CONTEXT_MAX,
            "live_timeouts_resident_mb_max": LIVE_TIMEOUTS_RESIDENT_MB_MAX,
            "flat_growth_max": FLAT_GROWTH_MAX,
            "load_limit_per_cpu": LOAD_LIMIT_PER_CPU,
        },
        "summary": {"judged": len(judged), "met": len(judged) - len(missed), "missed": missed,
                    "no_verdict": unjudged},
        "rows": rows,
        "details": details(tether, go),
        "markdown_table": render_markdown(header, body),
        "go_raw": go,
        "tether_raw": tether,
    }
    with open(args.json, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2, ensure_ascii=False)
        f.write("\n")
    subtitle = (f"{info['cpu_model']}, {info['nproc']} CPUs, {args.json}"
                + (" (quick run)" if args.quick else "")).replace("'", "")
    drawn = chart(rows, args.chart, subtitle)
    print(f"wrote {args.json}" + (f" and {args.chart}" if drawn else ""))
    if not args.publish:
        return
    if not publishable:
        print("NOT PUBLISHABLE: " + ("a quick run" if args.quick else
              "some targets got no verdict (the machine was busy) or no data")
              + f"; {args.publish[2]} is left as it was. This run's results: {args.json}")
        return
    json_out, png_out, doc = args.publish
    shutil.copyfile(args.json, json_out)
    if drawn:
        shutil.copyfile(args.chart, png_out)
    if update_doc(doc, result, png_out):
        print(f"published: {json_out}, {png_out}, {doc}")


if __name__ == "__main__" and len(sys.argv) == 2 and sys.argv[1] == "--source-version":
    print(source_version() or "unknown")  # for bench/run.sh, before it builds
elif __name__ == "__main__":
    main()
