#!/usr/bin/env python3
"""tether::debug's page in a real browser: Debian's headless Chromium driven by Selenium.

    browser_test.py --server <debug_browser_server> --artifacts <dir>

1. During a slow request (GET /slow, traced), the live view shows its tree: the request's
   <section data-trace-id=…> holds a node per context (the request, the group, the
   sources still running: profile and activity; preferences may have timed out already).
2. The profile source finishes (GET /step) and preferences' own deadline passes; then the
   client hangs up. The history (filtered by the trace id, as pasted from a log line)
   lists the request with status 499 and cause "client disconnected", and its timeline
   (SVG) shows the cascade: the request, the group and activity — what was still running —
   end cancelled with that cause; profile ended done, preferences at its deadline.
Screenshots go to <artifacts>/debug-live.png and <artifacts>/debug-history.png.
Exits 77 (ctest: skipped) when Chromium, chromium-driver or python3-selenium is missing.
Every wait is bounded.
"""
import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

SKIP = 77
BOUND = 60  # seconds: a cold headless Chromium takes ~10 s on a busy machine


def skip(why):
    print(f"SKIPPED: {why} (scripts/setup.sh test installs chromium, chromium-driver, "
          "python3-selenium)")
    sys.exit(SKIP)


try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:
    skip("python3-selenium is not installed")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
if not CHROMIUM:
    skip("chromium is not installed")
if not DRIVER:
    skip("chromium-driver is not installed")


def get_json(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def wait_for(what, pred, bound=BOUND):
    """Polls pred (every 50 ms) until it returns something truthy; fails after `bound` s."""
    until = time.monotonic() + bound
    while time.monotonic() < until:
        value = pred()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def descendants(node):
    return sum(1 + descendants(c) for c in node.get("children", []))


def browser(profile):
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 f"--user-data-dir={profile}", "--window-size=1280,1000"):
        opts.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=DRIVER), options=opts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--artifacts", required=True)
    args = ap.parse_args()
    os.makedirs(args.artifacts, exist_ok=True)

    server = subprocess.Popen([args.server], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    driver = None
    profile = tempfile.mkdtemp(prefix="tether-chromium-")
    try:
        port = int(server.stdout.readline().split()[1])
        base = f"http://127.0.0.1:{port}"
        trace_id = secrets.token_hex(16)
        slow = socket.create_connection(("127.0.0.1", port), timeout=10)
        slow.sendall((f"GET /slow HTTP/1.1\r\nHost: x\r\ntraceparent: 00-{trace_id}-"
                      f"{secrets.token_hex(8)}-01\r\n\r\n").encode())

        def tracked():
            for e in get_json(base + "/debug/contexts.json")["contexts"]:
                if e["context"]["trace_id"] == trace_id:
                    return e
            return None
        wait_for("the slow request's tree in contexts.json",
                 lambda: (tracked() or {"context": {}})["context"].get("children"))

        driver = browser(profile)
        driver.get(base + "/debug/contexts")
        wait = WebDriverWait(driver, BOUND)
        section = f'section.request[data-trace-id="{trace_id}"]'
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, section + " div.node")) >= 4)
        tree = driver.find_element(By.CSS_SELECTOR, section).text
        for source in ("source=profile", "source=activity"):
            assert source in tree, f"live view lacks {source}: {tree}"
        driver.save_screenshot(os.path.join(args.artifacts, "debug-live.png"))
        print("live view: the slow request's tree is shown")

        urllib.request.urlopen(base + "/step", timeout=10).read()  # profile done; wait for preferences' deadline too
        wait_for("profile and preferences to end",
                 lambda: descendants(tracked()["context"]) == 2)  # the group and activity
        slow.close()  # the hang-up
        wait_for("the request in history.json",
                 lambda: get_json(f"{base}/debug/history.json?trace_id={trace_id}&status=499")
                 ["finished"])

        field = driver.find_element(By.CSS_SELECTOR, '#filters [name="trace_id"]')
        field.clear()
        field.send_keys(trace_id)
        driver.find_element(By.CSS_SELECTOR, '#filters button[type="submit"]').click()
        row = f'#finished tr.row[data-trace-id="{trace_id}"]'
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, row))
        assert driver.find_element(By.CSS_SELECTOR, row + " td.result").text == "499"
        cause = driver.find_element(By.CSS_SELECTOR, row + " td.cause").text
        assert cause == "client disconnected", f"history row's cause: {cause!r}"
        bars = "#detail svg.timeline rect.bar"
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, bars)) >= 5)
        def count(state):
            return len(driver.find_elements(By.CSS_SELECTOR, f"{bars}.{state}"))
        counts = {s: count(s) for s in ("canceled", "deadline_exceeded", "done", "alive")}
        assert counts == {"canceled": 3, "deadline_exceeded": 1, "done": 1, "alive": 0}, (
            f"timeline bars by ending: " + str(counts))
        for bar in driver.find_elements(By.CSS_SELECTOR, bars + ".canceled"):
            assert bar.get_attribute("data-cause") == "client disconnected"
        driver.execute_script("document.getElementById('detail').scrollIntoView()")
        driver.save_screenshot(os.path.join(args.artifacts, "debug-history.png"))
        print(f"history: 499, client disconnected; timeline bars {counts}")
        return 0
    finally:
        if driver is not None:
            driver.quit()
        server.stdin.close()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
