#!/usr/bin/env python3
"""tether-vet on a compilation database, as another project would run it.

    run_compile_db.py <tether-vet> <tether include dir>

Writes a tiny project (two sources, a header, a g++-style compile_commands.json with a
g++-only flag and a relative file name) to a temporary directory and checks: files come from
the database when none are given; findings name absolute paths; header findings only with --header-filter, once each; --files and --checks
filter; the blocking list can be extended and replaced; the exit status is 1 with findings,
0 without, 2 for nothing to check, a bad option or a parse error.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

vet, include = sys.argv[1:]
failures = []


def expect(cond, what):
    if not cond:
        failures.append(what)


with tempfile.TemporaryDirectory() as root:
    src = os.path.join(root, "src")
    build = os.path.join(root, "build")
    os.makedirs(src)
    os.makedirs(build)
    with open(os.path.join(src, "worker.hpp"), "w") as f:
        f.write("#pragma once\n#include <tether/context.hpp>\n"
                "inline int late(int n, const tether::Context& ctx) { return ctx.err() ? 0 : n; }\n")
    for name in ("a", "b"):  # two files include the header: its finding is reported once
        with open(os.path.join(src, name + ".cpp"), "w") as f:
            f.write('#include "worker.hpp"\n'
                    "int %s(const tether::Context& ctx) {\n"
                    "  return late(1, tether::background()) + !ctx.err();\n"
                    "}\n" % name)
    # b.cpp is named relative to the build directory, as many generators write it.
    db = [{"directory": build, "file": os.path.join(src, "a.cpp"),
           "command": f"/usr/bin/g++ -std=c++20 -fcoroutines -Wall -I{include} -c "
                      f"{os.path.join(src, 'a.cpp')} -o a.o"},
          {"directory": build, "file": "../src/b.cpp",
           "command": f"/usr/bin/g++ -std=c++20 -I{include} -c ../src/b.cpp -o b.o"}]
    with open(os.path.join(build, "compile_commands.json"), "w") as f:
        json.dump(db, f)

    def run(*args):
        p = subprocess.run([vet, "--quiet", "-p", build, *args], capture_output=True, text=True)
        matches = list(re.finditer(r"^(.*):(\d+):\d+: warning: .* \[tether-([a-z-]+)\]$",
                                   p.stdout, re.M))
        for m in matches:  # printed as absolute paths, whatever the database said
            expect(m.group(1).startswith(src + "/"), f"not an absolute path: {m.group(0)}")
        found = sorted((os.path.basename(m.group(1)), int(m.group(2)), m.group(3))
                       for m in matches)
        return p.returncode, found, p.stderr

    rc, found, err = run()
    expect(rc == 1, f"default run: exit {rc}, expected 1\n{err}")
    expect(found == [("a.cpp", 3, "broken-chain"), ("b.cpp", 3, "broken-chain")],
           f"default run: {found}")
    rc, found, err = run(f"--header-filter=^{src}/")
    expect(found == [("a.cpp", 3, "broken-chain"), ("b.cpp", 3, "broken-chain"),
                     ("worker.hpp", 3, "context-first")], f"with --header-filter: {found}")
    rc, found, err = run(f"--header-filter=^{src}/", "--files=/a\\.cpp$", "--checks=context-first")
    expect(rc == 1 and found == [("worker.hpp", 3, "context-first")],
           f"with --files and --checks: exit {rc}, {found}")
    rc, found, err = run("--checks=context-ignored")
    expect(rc == 0 and found == [], f"nothing to report: exit {rc}, {found}\n{err}")
    rc, found, err = run("--files=nothing-matches")
    expect(rc == 2, f"no files: exit {rc}, expected 2")
    rc, found, err = run(os.path.join(src, "b.cpp"))
    expect(rc == 1 and found == [("b.cpp", 3, "broken-chain")], f"one file given: exit {rc}, {found}")

    # The blocking list is configurable: --blocking, --blocking-file, --no-default-blocking.
    loop = os.path.join(root, "loop.cpp")
    with open(loop, "w") as f:
        f.write("#include <tether/context.hpp>\n#include <unistd.h>\n"
                "namespace lib { int fetch(int); }\n"
                "int f(const tether::Context& ctx, int n) {\n"
                "  for (int i = 0; i < n; ++i) lib::fetch(i);\n"
                "  for (int i = 0; i < n; ++i) ::usleep(1);\n"
                "  return !ctx.err();\n"
                "}\n")
    names = os.path.join(root, "blocking.txt")
    with open(names, "w") as f:
        f.write("# our own blocking calls\nlib::fetch\n")

    def lines(*args):
        p = subprocess.run([vet, "--quiet", *args, loop, "--", "-std=c++20", f"-I{include}"],
                           capture_output=True, text=True)
        return p.returncode, [int(l.split(":")[1]) for l in p.stdout.splitlines()], p.stderr

    rc, found, err = lines()
    expect(rc == 1 and found == [6], f"default list: exit {rc}, lines {found}\n{err}")
    rc, found, err = lines("--blocking=lib::fetch")
    expect(found == [5, 6], f"--blocking: lines {found}")
    rc, found, err = lines(f"--blocking-file={names}", "--no-default-blocking")
    expect(found == [5], f"--blocking-file --no-default-blocking: lines {found}")
    rc, found, err = lines("--checks=no-such-check")
    expect(rc == 2, f"unknown check: exit {rc}, expected 2")

    # A file Clang cannot parse: exit 2, and what was parsed is still checked.
    broken = os.path.join(root, "broken.cpp")
    with open(broken, "w") as f:
        f.write("#include <tether/context.hpp>\n"
                "int late(int n, const tether::Context& ctx) { return ctx.err() ? 0 : n; }\n"
                "int oops() { return undeclared; }\n")
    p = subprocess.run([vet, "--quiet", broken, "--", "-std=c++20", f"-I{include}"],
                       capture_output=True, text=True)
    expect(p.returncode == 2 and "[tether-context-first]" in p.stdout and "undeclared" in p.stderr,
           f"parse error: exit {p.returncode}\n{p.stdout}{p.stderr}")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("compile database runs: as expected")
