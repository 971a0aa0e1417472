#!/usr/bin/env python3
"""Tests of the quiet-machine rule (bench/quiet.py) and of how bench/compare.py applies it.
Run by ctest as bench.quiet_rule; Python standard library only."""

import os
import resource
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402
import quiet  # noqa: E402


class QuietTest(unittest.TestCase):
    def test_the_cpu_of_a_waited_for_child_counts_as_the_benchmarks_own(self):
        before_own = quiet.own_ticks(os.getpid())
        before_children = resource.getrusage(resource.RUSAGE_CHILDREN)
        # A child that burns about 0.3 s of CPU; subprocess.run waits for it.
        subprocess.run([sys.executable, "-c",
                        "import time\nt=time.process_time()\n"
                        "while time.process_time()-t<0.3: pass"], check=True)
        after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
        child_seconds = ((after_children.ru_utime + after_children.ru_stime)
                         - (before_children.ru_utime + before_children.ru_stime))
        own_seconds = (quiet.own_ticks(os.getpid()) - before_own) / os.sysconf("SC_CLK_TCK")
        self.assertGreaterEqual(child_seconds, 0.3)
        # One clock tick of rounding either way.
        self.assertGreaterEqual(own_seconds, child_seconds - 2 / os.sysconf("SC_CLK_TCK"))

    def test_stop_prints_others_cpu_both_loads_and_the_slowdown(self):
        token = quiet.start(os.getpid())
        others, before, after, seconds, _slowdown = quiet.measure(token)
        self.assertGreaterEqual(others, 0.0)
        self.assertGreaterEqual(before, 0.0)
        self.assertGreaterEqual(after, 0.0)
        self.assertGreaterEqual(seconds, 0.0)
        out = subprocess.run([sys.executable, quiet.__file__, "stop", token], check=True,
                             capture_output=True, text=True, env=self.env_without_probe()
                             ).stdout.split()
        self.assertEqual(len(out), 4)
        self.assertEqual(out[3], "-")  # no probe: no slowdown

    @staticmethod
    def env_without_probe():
        return {k: v for k, v in os.environ.items() if not k.startswith("TETHER_HOST_SPEED")}

    def fake_probe(self, directory, micros_file):
        """A probe that prints the number in `micros_file` (what tether_host_speed prints)."""
        path = os.path.join(directory, "probe")
        with open(path, "w", encoding="ascii") as f:
            f.write(f"#!/bin/sh\ncat {micros_file}\n")
        os.chmod(path, 0o755)
        return path

    def test_a_window_the_host_slowed_down_reports_its_slowdown(self):
        with tempfile.TemporaryDirectory() as d:
            micros = os.path.join(d, "micros")
            env = dict(self.env_without_probe(), TETHER_HOST_SPEED_PROBE=self.fake_probe(d, micros))

            def quiet_py(*args):
                return subprocess.run([sys.executable, quiet.__file__, *args], check=True,
                                      capture_output=True, text=True, env=env).stdout.split()
            with open(micros, "w", encoding="ascii") as f:  # CPU and memory figures
                f.write("20000.0 30000.0\n")
            env["TETHER_HOST_SPEED_REF"] = quiet_py("calibrate")[0]
            self.assertEqual(env["TETHER_HOST_SPEED_REF"], "20000.0,30000.0")
            token = quiet_py("start", str(os.getpid()))[0]
            with open(micros, "w", encoding="ascii") as f:  # memory is now half as fast
                f.write("20000.0 60000.0\n")
            stats = quiet_py("stop", token)
            self.assertEqual(stats[3], "2.000")
            self.assertEqual(quiet_py("judge", f"{stats[0]}:{stats[3]}")[0], "0")
            self.assertEqual(quiet_py("judge", "0.0:1.000")[0], "1")

    def test_a_failing_probe_is_an_error_not_a_quiet_host(self):
        env = dict(self.env_without_probe(), TETHER_HOST_SPEED_PROBE="/bin/false")
        r = subprocess.run([sys.executable, quiet.__file__, "start", str(os.getpid())],
                           capture_output=True, text=True, env=env)
        self.assertNotEqual(r.returncode, 0)

    def test_judge_is_quiet_only_when_every_window_is(self):
        def judge(*others):
            return subprocess.run([sys.executable, quiet.__file__, "judge", *others], check=True,
                                  capture_output=True, text=True).stdout.split()
        limits = [f"{quiet.OTHERS_CPU_LIMIT:g}", f"{quiet.HOST_SLOWDOWN_LIMIT:g}"]
        self.assertEqual(judge("0.01", "0.02"), ["1", *limits])
        self.assertEqual(judge("0.01", f"{quiet.OTHERS_CPU_LIMIT + 0.01}"), ["0", *limits])
        self.assertEqual(judge("0.01:1.01", "0.02:-"), ["1", *limits])
        self.assertEqual(judge("0.01:1.01", f"0.02:{quiet.HOST_SLOWDOWN_LIMIT + 0.01}"),
                         ["0", *limits])

    def test_a_bad_command_line_is_an_error(self):
        r = subprocess.run([sys.executable, quiet.__file__, "begin"], capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("usage", r.stderr)


class CompareAppliesTheRuleTest(unittest.TestCase):
    def loads(self, text):
        with tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False) as f:
            f.write(text)
        try:
            return compare.read_loads(f.name)
        finally:
            os.remove(f.name)

    def test_a_family_is_judged_by_other_processes_cpu_not_by_the_load(self):
        loads = self.loads("# family round others-cpu load-before load-after (bench/quiet.py)\n"
                           "WithTimeout 1 0.02 1.10 1.31\n"
                           "WithTimeout 2 0.04 1.25 1.28\n"
                           "CancelTree 1 0.90 0.20 0.40\n")
        self.assertEqual(loads["WithTimeout"], {"load": 1.31, "others_cpu": 0.04,
                                                "slowdown": None})
        self.assertEqual(compare.time_verdict(True, loads["WithTimeout"], 1.2), "met")
        self.assertEqual(compare.time_verdict(False, loads["WithTimeout"], 1.2), "MISSED")
        # Other processes used 0.9 CPUs: no verdict however low the load looked.
        self.assertEqual(compare.time_verdict(True, loads["CancelTree"], 1.2), "no verdict")
        self.assertEqual(compare.time_verdict(True, None, 1.2), "no verdict")

    def test_the_worst_round_decides(self):
        loads = self.loads("# family round others-cpu load-before load-after\n"
                           "WithTimeout 1 0.01 0.5 0.6\n"
                           f"WithTimeout 2 {quiet.OTHERS_CPU_LIMIT + 0.01:.2f} 0.5 0.6\n")
        self.assertEqual(compare.time_verdict(True, loads["WithTimeout"], 1.2), "no verdict")

    def test_a_family_the_host_slowed_down_gets_no_verdict(self):
        loads = self.loads("# family round others-cpu load-before load-after slowdown\n"
                           "CommonParentCancel 1 0.00 2.90 2.90 1.93\n"
                           "CommonParentCancel 2 0.00 1.48 1.48 1.01\n"
                           "WithTimeout 1 0.00 2.90 2.60 1.02\n"
                           "CancelTree 1 0.00 2.60 2.25 -\n")
        self.assertEqual(loads["CommonParentCancel"],
                         {"load": 2.90, "others_cpu": 0.0, "slowdown": 1.93})
        # No other process, but the host ran at half speed in one round: no verdict.
        self.assertEqual(compare.time_verdict(True, loads["CommonParentCancel"], 1.2),
                         "no verdict")
        self.assertEqual(compare.time_verdict(False, loads["WithTimeout"], 1.2), "MISSED")
        self.assertEqual(compare.time_verdict(True, loads["CancelTree"], 1.2), "met")
        self.assertEqual(compare.fmt_load(loads["WithTimeout"]), "0.00 / 2.90 / 1.02")

    def test_files_without_others_cpu_are_judged_by_the_load_as_before(self):
        loads = self.loads("# family round load-before load-after (1-minute load average)\n"
                           "WithTimeout 1 0.42 0.58\n"
                           "CancelTree 1 1.20 1.30\n")
        self.assertEqual(loads["WithTimeout"], {"load": 0.58, "others_cpu": None,
                                                "slowdown": None})
        self.assertEqual(compare.time_verdict(True, loads["WithTimeout"], 1.2), "met")
        self.assertEqual(compare.time_verdict(True, loads["CancelTree"], 1.2), "no verdict")


class WorstRoundTest(unittest.TestCase):
    def test_the_worst_round_is_computed_for_a_ratio_target(self):
        go = {"runs_ns": [540.0, 480.0, 400.0]}
        tether = {"runs_ns": [297.0, 300.0, 290.0]}
        worst = compare.worst_round_ratio("CommonParentCancel", go, tether)
        self.assertAlmostEqual(worst, 290.0 / 400.0)  # 0.725: the median ratio (0.625) hides it

    def test_a_benchmark_without_a_target_has_no_worst_round(self):
        self.assertIsNone(compare.worst_round_ratio("DeepValueNewGoRoutine/depth=10",
                                                    {"runs_ns": [1.0]}, {"runs_ns": [2.0]}))

    def verdict(self, tether_runs):
        go = {"ns_per_op": 480.0, "runs_ns": [540.0, 480.0, 400.0], "spread": 0.3,
              "allocs_per_op": 2.0}
        tether = {"ns_per_op": sorted(tether_runs)[1], "runs_ns": tether_runs, "spread": 0.03,
                  "counters": {}}
        loads = {"CommonParentCancel": {"load": 1.3, "others_cpu": 0.01}}
        rows = compare.build_rows({"CommonParentCancel": go}, {"CommonParentCancel": tether},
                                  loads, 1.2)
        return next(r for r in rows if r["benchmark"] == "CommonParentCancel")

    def test_the_median_decides_and_the_worst_round_is_shown(self):
        row = self.verdict([297.0, 300.0, 290.0])
        self.assertLess(row["ratio"], 0.7)
        self.assertGreater(row["worst_round_ratio"], 0.7)
        self.assertEqual(row["verdict"], "met")

    def test_a_median_above_the_target_is_missed(self):
        row = self.verdict([400.0, 380.0, 350.0])  # median 380 / 480 = 0.79
        self.assertEqual(row["verdict"], "MISSED")


if __name__ == "__main__":
    unittest.main()
