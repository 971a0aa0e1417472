#!/usr/bin/env python3
"""Puts Go's context benchmarks and tether's ports side by side (`make bench`).

Reads the text output of Go's suite (`go test -run XXX -bench . -benchmem context`, or the
compiled test binary with the same flags) and the JSON output of tether_bench (Google
Benchmark), prints one table, judges every target of issue 4, and writes the whole
comparison as JSON plus a PNG chart of the ratios (gnuplot, bench/ratios.gp).

    compare.py --go go.txt --tether a.json [--tether b.json ...]
               --json latest.json --chart latest.png
               [--compiler /usr/bin/c++] [--commit abc1234] [--quick]
               [--update-doc docs/performance.md]
    compare.py --source-version       prints the sources' commit (for bench/run.sh)

A benchmark reported more than once (Go's -count, Google Benchmark's repetitions) counts
with its fastest run. Python standard library only. A missed target is a result, not an
error: the exit status is non-zero only when an input is missing or unreadable.
"""

import argparse
import datetime
import json
import math
import os
import platform
import re
import subprocess
import sys

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
]
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
    "CommonParentCancelFloor": "CommonParentCancel's 200 divisions alone: the floor of both",
    "RegistryRequestTree": "a request's 6 contexts; registry_off vs no_registry_call = its cost when off",
    "RegistrySnapshot": "one snapshot of 100 tracked request trees (500 contexts)",
}

# The order of tether's own benchmarks in the table (after Go's, which keep Go's order).
ADDITIONS_ORDER = ["CommonParentCancelFloor", "WithValueChain", "ValueHit", "AfterFuncRegisterStop",
                   "DerivedContext", "RegistryRequestTree", "RegistrySnapshot", "CancelFanOut",
                   "CancelWakeLatency", "LiveTimeouts"]

GB_SUFFIXES = re.compile(r"/(threads:\d+|real_time|manual_time|process_time|iterations:\d+|"
                         r"min_time:[\d.]+s?|repeats:\d+)")


def parse_go(path):
    """Returns (rows, info): rows in Go's order, name → {ns, bytes, allocs}."""
    rows, info = {}, {}
    line_re = re.compile(r"^Benchmark(\S+)\s+(\d+)\s+([\d.]+) ns/op"
                         r"(?:\s+([\d.]+) B/op\s+([\d.]+) allocs/op)?")
    with open(path, encoding="utf-8") as f:
        for line in f:
            for key in ("goos", "goarch", "cpu", "pkg"):
                if line.startswith(key + ":"):
                    info[key] = line.split(":", 1)[1].strip()
            m = line_re.match(line)
            if not m:
                continue
            name = re.sub(r"-\d+$", "", m.group(1))  # Go appends -GOMAXPROCS when it is > 1
            row = {
                "iterations": int(m.group(2)),
                "ns_per_op": float(m.group(3)),
                "bytes_per_op": float(m.group(4)) if m.group(4) else None,
                "allocs_per_op": float(m.group(5)) if m.group(5) else None,
                "runs": 1,
            }
            # With -count N a benchmark is reported N times: keep the fastest run.
            if name in rows:
                row["runs"] = rows[name]["runs"] + 1
                if rows[name]["ns_per_op"] <= row["ns_per_op"]:
                    rows[name]["runs"] = row["runs"]
                    continue
            rows[name] = row
    return rows, info


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
            # With --benchmark_repetitions N there are N runs: keep the fastest.
            previous = rows.get(name)
            row["runs"] = previous["runs"] + 1 if previous else 1
            if previous and "error" not in previous and (
                    "error" in row or previous["ns_per_op"] <= row["ns_per_op"]):
                previous["runs"] = row["runs"]
                continue
            rows[name] = row
    return rows, context


def ratio_target(name):
    for pattern, limit in RATIO_TARGETS:
        if re.fullmatch(pattern, name):
            return limit
    return None


def build_rows(go, tether):
    """One row per benchmark: Go's suite in Go's order, then tether's additions."""
    rows = []
    def addition_rank(name):
        family = name.split("/")[0]
        return ADDITIONS_ORDER.index(family) if family in ADDITIONS_ORDER else len(ADDITIONS_ORDER)
    names = list(go) + sorted((n for n in tether if n not in go), key=addition_rank)
    for name in names:
        g, t = go.get(name), tether.get(name)
        family = name.split("/")[0]
        row = {
            "benchmark": name,
            "go_ns_per_op": g["ns_per_op"] if g else None,
            "tether_ns_per_op": t.get("ns_per_op") if t else None,
            "go_allocs_per_op": g["allocs_per_op"] if g else None,
            "tether_allocs_per_op": (t["counters"].get("allocs_per_op") if t else None),
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
            if row["ratio"] is None:
                row["verdict"] = "NO DATA"
            else:
                row["verdict"] = "met" if row["ratio"] <= limit else "MISSED"

        if family == "DerivedContext":
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
            mb = t["counters"].get("resident_MB")
            n = int(t["counters"].get("timeouts", 0))
            memory = {
                "benchmark": f"{name} resident MB",
                "go_ns_per_op": None, "tether_ns_per_op": None, "ratio": None,
                "go_allocs_per_op": None, "tether_allocs_per_op": None,
                "resident_MB": mb,
                "target": f"≤ {LIVE_TIMEOUTS_RESIDENT_MB_MAX:g} MB" + (
                    " (at n=1000000)" if n != 1000000 else ""),
                "verdict": "NO DATA" if mb is None else (
                    "met" if mb <= LIVE_TIMEOUTS_RESIDENT_MB_MAX else "MISSED"),
                "note": "resident-set growth while all are live (/proc/self/statm)",
            }
            if n != 1000000 and mb is not None:
                memory["verdict"] = "n/a (scaled-down run)"
            rows.append(memory)
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


def table(rows):
    header = ["benchmark", "Go ns/op", "tether ns/op", "ratio", "target", "verdict",
              "Go allocs/op", "tether allocs/op"]
    body = []
    for r in rows:
        tether_ns = fmt_ns(r["tether_ns_per_op"])
        if r.get("resident_MB") is not None:
            tether_ns = f"{r['resident_MB']:.1f} MB"
        body.append([r["benchmark"], fmt_ns(r["go_ns_per_op"]), tether_ns,
                     fmt_ratio(r["ratio"]), r["target"] or "", r["verdict"],
                     fmt_num(r["go_allocs_per_op"]), fmt_num(r["tether_allocs_per_op"])])
    return header, body


def render_text(header, body):
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]
    right = {1, 2, 3, 6, 7}

    def line(cells):
        return "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    out = [line(header), line(["-" * w for w in widths])]
    out += [line(r) for r in body]
    return "\n".join(out)


def render_markdown(header, body):
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join(["---"] + ["---:"] * 3 + ["---", "---"] + ["---:"] * 2) + "|"]
    for r in body:
        cells = [c.replace("|", "\\|") for c in map(str, r)]
        if cells[5] in ("MISSED", "NO DATA"):
            cells[5] = f"**{cells[5]}**"
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def details(tether, go=None):
    """Counters of tether's additions that the table has no column for."""
    lines = []
    floor = tether.get("CommonParentCancelFloor", {}).get("ns_per_op")
    common_t = tether.get("CommonParentCancel", {}).get("ns_per_op")
    common_g = (go or {}).get("CommonParentCancel", {}).get("ns_per_op")
    if floor and common_t and common_g:
        above_t, above_g = common_t - floor, common_g - floor
        lines.append(f"CommonParentCancel: the 200 divisions alone take {floor:,.0f} ns/op; above "
                     f"that floor Go spends {above_g:,.0f} ns/op and tether {above_t:,.0f} ns/op"
                     + (f" (ratio {above_t / above_g:.2f})" if above_g > 0 else ""))
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
            colour = 13 if limit is None else (11 if r["ratio"] <= limit else 12)
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
    load = m.get("load_average_1min_range")
    chart_rel = os.path.relpath(os.path.abspath(chart_path),
                                os.path.dirname(os.path.abspath(path)))
    summary = result["summary"]
    lines = [
        DOC_BEGIN,
        "",
        f"Measured {result['measured'] or result['generated_utc']} at tether commit "
        f"`{m['tether_commit']}`:",
        "",
        f"- CPU: {m['cpu_model']}, nproc {m['nproc']} (GOMAXPROCS and benchmark threads: "
        f"{m['gomaxprocs']})",
        f"- C++: {m['compiler']}, CMake Release build",
        f"- Go: {m['go']}",
        f"- each figure is the fastest of {m['runs_per_benchmark']['go']} runs (Go) and "
        f"{m['runs_per_benchmark']['tether']} runs (tether) of the benchmark",
        f"- kernel: Linux {m['kernel']}",
        "- 1-minute load average during the run: "
        + (f"{load[0]:.1f} to {load[1]:.1f}" if load else "unknown")
        + f" (above {m['nproc']} means other processes were competing for the CPUs)",
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


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--go", required=True, help="output of go test -bench . -benchmem context")
    p.add_argument("--tether", required=True, action="append", help="tether_bench JSON output")
    p.add_argument("--json", required=True, help="where to write the comparison")
    p.add_argument("--chart", required=True, help="where to write the PNG chart")
    p.add_argument("--compiler", default="", help="the C++ compiler tether_bench was built with")
    p.add_argument("--commit", help="the sources' git commit when tether_bench was built "
                   "(default: now)")
    p.add_argument("--quick", action="store_true", help="mark the results as a quick run")
    p.add_argument("--update-doc", metavar="MD",
                   help="rewrite the generated section of this page (docs/performance.md)")
    args = p.parse_args()

    go, go_info = parse_go(args.go)
    tether, context = parse_tether(args.tether)
    if not go:
        sys.exit(f"compare.py: no Go benchmark results in {args.go}")
    if not tether:
        sys.exit("compare.py: no tether benchmark results")

    rows = build_rows(go, tether)
    header, body = table(rows)
    info = machine(args.compiler, args.commit, go_info, context)
    info["runs_per_benchmark"] = {"go": max(r["runs"] for r in go.values()),
                                  "tether": max(r["runs"] for r in tether.values())}
    # A target without a measurement (a port that failed or was filtered out) is not met.
    judged = [r for r in rows if r["verdict"] in ("met", "MISSED", "NO DATA")]
    missed = [r["benchmark"] + (" (no data)" if r["verdict"] == "NO DATA" else "")
              for r in judged if r["verdict"] != "met"]

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
    print(f"targets met: {len(judged) - len(missed)} of {len(judged)}"
          + (f"; MISSED: {', '.join(missed)}" if missed else ""))
    if args.quick:
        print("(quick run: short timings, rough numbers; not for docs/performance.md)")
    print(f"machine: {info['cpu_model']}, nproc {info['nproc']}, {info['compiler']}, {info['go']}")
    load = info["load_average_1min_range"]
    if load:
        print(f"1-minute load average during the run: {load[0]:.1f} to {load[1]:.1f} (above "
              f"{info['nproc']} means other processes competed for the CPUs)")

    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    result = {
        "generated_utc": datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%SZ"),
        # When the first tether_bench process started (Google Benchmark's clock).
        "measured": (context.get("dates") or [None])[0],
        "quick": args.quick,
        "machine": info,
        "targets": {
            "ratio": {p: v for p, v in RATIO_TARGETS},
            "allocs_per_derived_context_max": ALLOCS_PER_DERIVED_CONTEXT_MAX,
            "live_timeouts_resident_mb_max": LIVE_TIMEOUTS_RESIDENT_MB_MAX,
        },
        "summary": {"judged": len(judged), "met": len(judged) - len(missed), "missed": missed},
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
    if args.update_doc and update_doc(args.update_doc, result, args.chart):
        print(f"updated {args.update_doc}")


if __name__ == "__main__" and len(sys.argv) == 2 and sys.argv[1] == "--source-version":
    print(source_version() or "unknown")  # for bench/run.sh, before it builds
elif __name__ == "__main__":
    main()
