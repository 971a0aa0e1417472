"""Runs scripts/check-layers over bad/ and asserts it fails with exactly expected.txt."""
import pathlib
import subprocess
import sys

check, here = sys.argv[1], pathlib.Path(sys.argv[2])
run = subprocess.run([sys.executable, check, str(here / "bad")], capture_output=True, text=True)
expected = (here / "expected.txt").read_text()
if run.returncode != 1 or run.stdout != expected:
    print(f"exit {run.returncode}; got:\n{run.stdout}{run.stderr}\nexpected:\n{expected}")
    sys.exit(1)
print(f"check-layers caught all {expected.count(chr(10)) - 1} violations")
