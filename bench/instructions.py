#!/usr/bin/env python3
"""Instructions per operation of tether's core, counted by Callgrind (`make bench-instructions`).

Runs tether_instructions (bench/instructions.cpp) under `valgrind --tool=callgrind`, reads
one Callgrind dump per operation (the main thread's only), prints instructions per
operation and each one's multiple of the floor — what the standard library charges for the
same job: `std::stop_source` + `std::stop_callback` + `request_stop` — and checks the
bounds below. Instruction counts do not depend on the machine's load: the same binary gives
the same counts on every run, so CI can check them where it cannot check wall time.

    instructions.py --binary build-bench/bench/tether_instructions
                    [--json out.json] [--update-doc docs/performance.md]

Exit status: 0 when every bound holds, 1 when one does not, 2 when the run itself failed.
Python standard library only.
"""

import argparse
import datetime
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

FLOOR = "std_floor"

# The bounds, in multiples of the floor: the one place they are written down.
#   target: the bound docs/performance.md states.
#   check:  what CI enforces (.ci/run). Equal to the target once the target is met; until
#           then, today's measured value plus a small margin, so a regression still fails
#           while the target stays visible (the table prints both, and "MISSED").
BOUNDS = {
    "with_cancel+cancel": {"target": 1.3, "check": 1.3},
    "with_timeout+cancel": {"target": 2.0, "check": 2.0},
}

# Operations tracked without a target: CI fails if one grows beyond this multiple of the
# floor (about 10 % above what it measured when the bound was set), so a regression in a
# core path is caught even where no target exists. Raise one only with a reason.
REGRESSION_CEILINGS = {
    "with_cancel(parent)+cancel": 1.5,
    "with_cancel+after_func+cancel": 2.5,
    "with_timeout+cancel (10k armed)": 2.15,
    "with_value+drop": 1.3,
    "after_func+stop": 1.2,
    "cancel fan-out 10": 13.3,
}

# Flat in n: the cost per cancel with 100 000 live timeouts at most this multiple of the
# cost with 1 000 (instructions only; cache misses are make bench's TimeoutsCancel rows).
FLAT = {
    "cancel 1 of 100k live timeouts": ("cancel 1 of 1k live timeouts", 1.25),
}


def run_callgrind(binary, outdir):
    """Runs the binary under Callgrind; returns {operation: instructions per op}."""
    out = os.path.join(outdir, "callgrind.out")
    cmd = ["valgrind", "--tool=callgrind", "--collect-atstart=no", "--separate-threads=yes",
           f"--callgrind-out-file={out}", binary]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        sys.exit(f"instructions.py: {' '.join(cmd)} failed with status {proc.returncode}")
    # One line per operation: its name and how many operations its dump counted.
    ops = {m.group(1): int(m.group(2))
           for m in re.finditer(r"^ops\t(.+)\t(\d+)$", proc.stdout, re.M)}
    if not ops:
        sys.exit("instructions.py: tether_instructions did not print its operation counts")
    counts = {}
    for path in glob.glob(out + ".*"):
        fields = {}
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                for key in ("thread", "desc: Trigger", "totals", "summary"):
                    if line.startswith(key + ":"):
                        fields.setdefault(key, line[len(key) + 1:].strip())
        # One file per (dump, thread): only the main thread runs the operations.
        if fields.get("thread") != "1":
            continue
        name = re.sub(r"^Client Request: ", "", fields.get("desc: Trigger", ""))
        total = fields.get("totals") or fields.get("summary")
        if name in ops and total:
            counts[name] = int(total.split()[0]) / ops[name]
    return counts


def list_operations(binary):
    """[(name, description)] in the program's order."""
    out = subprocess.run([binary, "--list"], capture_output=True, text=True, check=True).stdout
    return [tuple(line.split("\t", 1)) for line in out.splitlines() if "\t" in line]


def judge(operations, counts):
    """One row per operation, with its verdicts; and whether every check holds."""
    floor = counts.get(FLOOR)
    if not floor:
        sys.exit("instructions.py: no count for the floor (std_floor)")
    rows, ok = [], True
    for name, what in operations:
        n = counts.get(name)
        row = {"operation": name, "what": what, "instructions": n,
               "x_floor": n / floor if n is not None else None,
               "target": None, "check": None, "verdict": ""}
        if name in BOUNDS:
            row["target"], row["check"] = BOUNDS[name]["target"], BOUNDS[name]["check"]
        elif name in REGRESSION_CEILINGS:
            row["check"] = REGRESSION_CEILINGS[name]
        if n is not None and name in FLAT and counts.get(FLAT[name][0]):
            reference, most = FLAT[name]
            growth = n / counts[reference]
            row["target"] = row["check"] = None
            row["flat"] = {"reference": reference, "growth": growth, "max": most}
            row["verdict"] = f"flat ({growth:.2f}× of 1k)" if growth <= most else (
                f"REGRESSION ({growth:.2f}× of 1k > {most:g}×)")
            ok = ok and growth <= most
            rows.append(row)
            continue
        if n is None:
            row["verdict"] = "NO DATA"
            ok = False
        elif row["check"] is not None:
            within_check = row["x_floor"] <= row["check"]
            ok = ok and within_check
            if not within_check:
                row["verdict"] = "REGRESSION"
            elif row["target"] is not None:
                row["verdict"] = "met" if row["x_floor"] <= row["target"] else "MISSED"
            else:
                row["verdict"] = "ok"
        rows.append(row)
    return rows, ok


def fmt_x(v):
    return "—" if v is None else f"{v:.2f}×"


def render(rows, markdown):
    header = ["operation", "instructions/op", "× floor", "target", "CI bound", "verdict"]
    body = [[r["operation"], "—" if r["instructions"] is None else f"{r['instructions']:,.0f}",
             fmt_x(r["x_floor"]), "" if r["target"] is None else f"≤ {r['target']:g}×",
             "" if r["check"] is None else f"≤ {r['check']:g}×", r["verdict"]] for r in rows]
    if markdown:
        header.append("one operation")
        for b, r in zip(body, rows):
            b.append(r["what"])
        out = ["| " + " | ".join(header) + " |", "|---|---:|---:|---|---|---|---|"]
        for b in body:
            if b[5] in ("MISSED", "NO DATA") or b[5].startswith("REGRESSION"):
                b[5] = f"**{b[5]}**"
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in b) + " |")
        return "\n".join(out)
    widths = [max(len(x) for x in col) for col in zip(header, *body)]
    def line(cells):
        return "  ".join(c.rjust(w) if i in (1, 2) else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(b) for b in body])


DOC_BEGIN = "<!-- instructions:begin (generated by bench/instructions.py; do not edit by hand) -->"
DOC_END = "<!-- instructions:end -->"


def update_doc(path, rows, info):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    begin, end = text.find(DOC_BEGIN), text.find(DOC_END)
    if begin < 0 or end < begin:
        sys.exit(f"instructions.py: {path} has no generated instructions section")
    missed = [r["operation"] for r in rows if r["verdict"] == "MISSED"]
    lines = [DOC_BEGIN, "",
             f"Counted {info['date']} at tether commit `{info['commit']}` ({info['compiler']}, "
             f"Release), {info['valgrind']}:", "",
             render(rows, markdown=True), ""]
    lines.append("Targets: " + ("all met." if not missed else
                                "**MISSED**: " + ", ".join(f"`{m}`" for m in missed) +
                                " (CI checks today's count plus a margin until they are met)."))
    lines += ["", DOC_END]
    text = text[:begin] + "\n".join(lines) + text[end + len(DOC_END):]
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def tool_version(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        return out.splitlines()[0].strip() if out else None
    except (OSError, subprocess.CalledProcessError):
        return None


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--binary", required=True, help="tether_instructions")
    p.add_argument("--compiler", default="c++", help="the compiler the binary was built with")
    p.add_argument("--commit", default=None, help="the sources' commit")
    p.add_argument("--json", help="write the results here")
    p.add_argument("--update-doc", metavar="MD", help="rewrite the generated section of this page")
    args = p.parse_args()

    operations = list_operations(args.binary)
    with tempfile.TemporaryDirectory(prefix="tether-callgrind-") as d:
        counts = run_callgrind(args.binary, d)
    rows, ok = judge(operations, counts)
    print(render(rows, markdown=False))
    print(f"\nfloor ({FLOOR}): {counts[FLOOR]:,.0f} instructions; bounds are multiples of it "
          "(bench/instructions.py: BOUNDS, REGRESSION_CEILINGS, FLAT)")
    missed = [r["operation"] for r in rows if r["verdict"] == "MISSED"]
    if missed:
        print("targets MISSED (within the CI bound): " + ", ".join(missed))
    info = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": args.commit or tool_version(["git", "rev-parse", "--short", "HEAD"]),
            "compiler": tool_version([args.compiler, "--version"]),
            "valgrind": tool_version(["valgrind", "--version"])}
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"info": info, "rows": rows, "bounds": BOUNDS,
                       "regression_ceilings": REGRESSION_CEILINGS}, f, indent=2,
                      ensure_ascii=False)
            f.write("\n")
    if args.update_doc:
        update_doc(args.update_doc, rows, info)
        print(f"updated {args.update_doc}")
    if not ok:
        print("instructions.py: a bound does not hold (REGRESSION or NO DATA above)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
