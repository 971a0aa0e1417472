#!/usr/bin/env python3
"""Runs tether-vet on one corpus file and compares its findings with the file's annotations.

    run_corpus.py <tether-vet> <file.cpp> [compiler args...]

A line that must be reported carries `// expect: tether-<check>[, tether-<check>...]`
(`// expect@+1: ...` for the next line); every other line must not be. Fails on a missing
finding, an unexpected one, a finding in another file, a parse error, or an exit status that
disagrees (1 with findings, 0 without).
"""
import re
import subprocess
import sys

vet, source, *args = sys.argv[1:]
expected = set()
with open(source) as f:
    for n, line in enumerate(f, 1):
        m = re.search(r"//.*\bexpect(?:@([+-]\d+))?:\s*(.*)$", line)
        if m:
            for check in re.findall(r"tether-[a-z-]+", m.group(2)):
                expected.add((n + int(m.group(1) or 0), check))

proc = subprocess.run([vet, "--quiet", source, "--", *args], capture_output=True, text=True)
found, problems = set(), []
for line in proc.stdout.splitlines():
    m = re.match(r"(.*):(\d+):(\d+): warning: .* \[(tether-[a-z-]+)\]$", line)
    if not m:
        problems.append(f"unparsable output: {line}")
    elif not m.group(1).endswith(source.split("/")[-1]):
        problems.append(f"finding in another file: {line}")
    elif (int(m.group(2)), m.group(4)) in found:
        problems.append(f"reported twice: {line}")
    else:
        found.add((int(m.group(2)), m.group(4)))
for n, check in sorted(expected - found):
    problems.append(f"{source}:{n}: expected {check}, not reported")
for n, check in sorted(found - expected):
    problems.append(f"{source}:{n}: unexpected {check}")
want_rc = 1 if expected else 0
if proc.returncode != want_rc:
    problems.append(f"exit status {proc.returncode}, expected {want_rc}\n{proc.stderr}")
if problems:
    print("\n".join(problems))
    sys.exit(1)
print(f"{source}: {len(found)} finding(s), as annotated")
