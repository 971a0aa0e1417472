#!/usr/bin/env python3
"""Publishes a benchmark family's results (a text file) into docs/performance.md.

    bench/publish.py NAME RESULTS DOC

replaces what lies between the lines `<!-- bench-NAME:begin ... -->` and
`<!-- bench-NAME:end -->` of DOC with RESULTS in a code block. bench/http/run.sh and
bench/grpc/run.sh call it after a full run whose every window was quiet; a quick or busy
run publishes nothing. Exit 1 (and DOC untouched) if DOC has no such section.
"""
import sys


def publish(name, results, doc):
    begin, end = f"<!-- bench-{name}:begin", f"<!-- bench-{name}:end -->"
    text = open(doc, encoding="utf-8").read()
    i, j = text.find(begin), text.find(end)
    if i < 0 or j < i:
        sys.exit(f"bench/publish.py: {doc} has no generated section '{name}' ({begin} ... {end})")
    begin_line = text[i:text.index("\n", i)]
    body = open(results, encoding="utf-8").read().rstrip("\n")
    text = text[:i] + begin_line + "\n\n```\n" + body + "\n```\n" + text[j:]
    open(doc, "w", encoding="utf-8").write(text)
    print(f"published: {doc} ({name} section)")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: bench/publish.py NAME RESULTS DOC")
    publish(*sys.argv[1:])
