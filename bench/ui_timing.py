"""The history view's latency in a real browser (issue 11 §4), for the ``history_ui`` scenario.

Chromium through Playwright's sync API opens a page (the editor ``/d/{id}#edit`` or the viewer
``/v/{id}#view``) and times, inside the page, from the input event's own time stamp to the
moment what it asked for is on screen, so that Playwright's round trips do not count:

- ``open``: a click on History (pointerdown) until the first entry of the list is in the DOM,
  in a panel that is not hidden; the first open of the page, then closed and reopened (warm);
- ``arrow``, ``home``, ``end``: a key on the slider (keydown) until the slider's revision is the
  one rendered (``data-rev`` of the history document equal to ``aria-valuenow``, not
  ``aria-busy``, the past revision not hidden); ``end`` (now) until the past is hidden again;
- ``pointer``: a click at a random place of the slider's track, the same way as ``arrow``.

Each time is taken twice: ``dom`` when a MutationObserver sees the change, ``frame`` once the
next frame after it is rendered (a task posted from its animation frame callback runs after its
style, layout and paint: about when it is on screen); and ``fetch``, from the input event
to the last answer of the API requests made meanwhile (Resource Timing): the part spent waiting
for the server. The results are in milliseconds.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.servers import machine_busy

Json = dict[str, Any]

SYSTEM_CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [  # as e2e/conftest.py launches it
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORT = {"width": 1280, "height": 800}
STEP_TIMEOUT_MS = 10_000  # a step not shown by then is recorded as not shown

# The in-page probe. arm(kind) starts a measurement: the next keydown or pointerdown is its
# start; a MutationObserver over the body checks after every change whether it is done.
_PROBE = """() => {
  if (window.__swellBench) return;
  const q = (id) => document.querySelector(`[data-testid=${id}]`);
  const B = { kind: null, before: null, t0: null, result: null };
  const start = (e) => {
    if (B.kind !== null && B.t0 === null) B.t0 = e.timeStamp;
  };
  window.addEventListener("keydown", start, true);
  window.addEventListener("pointerdown", start, true);
  const slider = () => q("history-slider");
  const value = () => slider()?.getAttribute("aria-valuenow") ?? null;
  const done = () => {
    const panel = q("history-panel");
    const past = q("history-past");
    const doc = q("history-doc");
    if (B.kind === "open") {
      return !!panel && !panel.hidden && !!panel.querySelector("[data-testid=history-entry]");
    }
    const v = value();
    if (v === null || v === B.before || !past || !doc) return false;
    if (B.kind === "now") {
      return past.hidden && v === slider().getAttribute("aria-valuemax");
    }
    return !past.hidden && doc.getAttribute("data-rev") === v && !doc.hasAttribute("aria-busy");
  };
  const check = () => {
    if (B.kind === null || B.t0 === null || B.result !== null || !done()) return;
    const shownAt = performance.now();
    const round = (ms) => Math.round(ms * 10) / 10;
    const result = { dom: round(shownAt - B.t0), value: value(), fetch: 0, requests: [] };
    // the API requests made meanwhile and answered before it was shown: the server's part
    for (const e of performance.getEntriesByType("resource")) {
      if (e.startTime < B.t0 || !e.responseEnd || e.responseEnd > shownAt) continue;
      const path = new URL(e.name).pathname;
      if (!path.startsWith("/api/")) continue;
      result.fetch = Math.max(result.fetch, round(e.responseEnd - B.t0));
      result.requests.push([path.split("/").pop(), Math.round(e.responseEnd - e.startTime)]);
    }
    B.result = result;
    // the next frame's rendering (style, layout, paint) runs after its animation frame
    // callbacks: a task posted from one runs once that frame is done
    requestAnimationFrame(() => {
      const channel = new MessageChannel();
      channel.port1.onmessage = () => {
        result.frame = round(performance.now() - B.t0);
      };
      channel.port2.postMessage(null);
    });
  };
  new MutationObserver(check).observe(document.body, {
    subtree: true,
    childList: true,
    attributes: true,
    attributeFilter: ["aria-valuenow", "data-rev", "aria-busy", "hidden"],
  });
  window.__swellBench = {
    arm(kind) {
      performance.clearResourceTimings();
      B.kind = kind;
      B.before = value();
      B.t0 = null;
      B.result = null;
    },
    finished() {
      check();
      return B.result !== null && B.result.frame !== undefined;
    },
    take() {
      const r = B.result;
      B.kind = null;
      B.result = null;
      return r;
    },
    value,
  };
}"""


def stats(values: list[float]) -> Json:
    """count, p50, p95 and max (nearest rank), in ms."""
    ordered = sorted(values)

    def rank(p: float) -> float | None:
        if not ordered:
            return None
        index = min(len(ordered) - 1, max(0, math.ceil(len(ordered) * p / 100) - 1))
        return round(ordered[index], 1)

    return {
        "count": len(ordered),
        "p50": rank(50),
        "p95": rank(95),
        "max": round(ordered[-1], 1) if ordered else None,
    }


def unavailable() -> str | None:
    """Why the browser measurements cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (`make install-test` installs it)"
    return None


class _Measure:
    """One page and its probe."""

    def __init__(self, page: Any, timeout_ms: int) -> None:
        self.page = page
        self.timeout_ms = timeout_ms
        self.times: dict[str, list[Json]] = {}
        self.missed: dict[str, int] = {}

    def install(self) -> None:
        self.page.evaluate(_PROBE)

    def timed(self, kind: str, wanted: str, action: Any) -> Json | None:
        """Arms the probe for `wanted` ("open", "rev" or "now"), runs the action (which makes
        the input event) and waits until it is done; records the result under `kind`."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

        self.page.evaluate("(k) => window.__swellBench.arm(k)", wanted)
        action()
        try:
            self.page.wait_for_function(
                "() => window.__swellBench.finished()", timeout=self.timeout_ms, polling=20
            )
        except PlaywrightTimeoutError:
            self.page.evaluate("() => window.__swellBench.take()")
            self.missed[kind] = self.missed.get(kind, 0) + 1
            return None
        result: Json = self.page.evaluate("() => window.__swellBench.take()")
        self.times.setdefault(kind, []).append(result)
        return result

    def summary(self) -> Json:
        out: Json = {}
        for kind, results in self.times.items():
            out[kind] = {
                "frame_ms": stats([r["frame"] for r in results]),
                "dom_ms": stats([r["dom"] for r in results]),
                # from the input event to the last API answer it waited for
                "fetch_ms": stats([r["fetch"] for r in results]),
                "slowest": max(results, key=lambda r: r["frame"]),
            }
        for kind, count in self.missed.items():
            out.setdefault(kind, {})["not_shown"] = count
        return out


def measure_page(
    browser: Any,
    url: str,
    *,
    editor: bool,
    arrows: int,
    home_end: int,
    pointer: int,
    reopen: int,
    seed: int,
    prepare: Callable[[Any], None] | None = None,
) -> Json:
    """Opens `url` in a new context and times the history view there (see the module);
    ``prepare(context)`` may route its requests first (to check the probe itself)."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(30_000)
    user = json.dumps({"name": "Bench reader", "color": "#3366cc"})
    context.add_init_script(
        f"try {{ localStorage.setItem('swell.user', {json.dumps(user)}); }} catch {{}}"
    )
    if prepare is not None:
        prepare(context)
    errors: list[str] = []
    page = context.new_page()
    phase = ["loading"]

    def on_console(message: Any) -> None:
        if message.type == "error":
            where = message.location
            at = f" ({where['url']}:{where['lineNumber']})" if where.get("url") else ""
            errors.append(f"[error while {phase[0]}] {message.text[:160]}{at}")

    page.on("console", on_console)
    page.on("pageerror", lambda e: errors.append(f"[pageerror] {e}"))
    try:
        page.goto(url)
        if editor:
            expect(page.get_by_test_id("connection-status")).to_have_text(
                "Connected", timeout=60_000
            )
            expect(page.get_by_test_id("save-status")).to_be_visible(timeout=60_000)
        else:
            expect(page.get_by_test_id("viewer-status")).to_have_text("Live", timeout=60_000)
        m = _Measure(page, STEP_TIMEOUT_MS)
        m.install()
        phase[0] = "opening"
        button = page.get_by_role("button", name="History", exact=True)
        slider = page.get_by_role("slider")
        m.timed("open_first", "open", lambda: button.click())
        newest = int(slider.get_attribute("aria-valuemax") or "0")
        for _ in range(reopen):
            button.click()  # closes it
            expect(page.get_by_test_id("history-panel")).to_be_hidden()
            m.timed("open_again", "open", lambda: button.click())
        slider.focus()
        phase[0] = "stepping"
        for _ in range(arrows):
            if int(m.page.evaluate("() => window.__swellBench.value()") or "1") <= 1:
                break
            m.timed("arrow", "rev", lambda: page.keyboard.press("ArrowLeft"))
        for _ in range(home_end):
            m.timed("end", "now", lambda: page.keyboard.press("End"))
            m.timed("home", "rev", lambda: page.keyboard.press("Home"))
        phase[0] = "clicking the slider"
        rng = random.Random(seed)
        track = page.locator("[data-testid=history-slider] .history-slider__track")
        box = track.bounding_box()
        picks: list[int] = []
        if box is not None and newest > 2:
            for _ in range(pointer):
                fraction = rng.uniform(0.0, 0.97)
                x = box["x"] + fraction * box["width"]
                y = box["y"] + box["height"] / 2
                pick = round(1 + fraction * (newest - 1))
                if str(pick) == m.page.evaluate("() => window.__swellBench.value()"):
                    continue  # the revision shown already: nothing would change
                picks.append(pick)
                m.timed("pointer", "rev", lambda x=x, y=y: page.mouse.click(x, y))
        result = {
            "url_kind": "editor" if editor else "viewer",
            "newest": newest,
            "entries_loaded": page.get_by_test_id("history-entry").count(),
            "times": m.summary(),
            "pointer_revisions": picks,
            "console_errors": errors[:20],
        }
        return result
    finally:
        context.close()


def measure(
    base_url: str, pages: list[tuple[str, str]], params: Json, before: Callable[[str], None]
) -> Json:
    """Launches Chromium and measures each (name, path) page in turn ("editor" or "viewer"),
    calling ``before(name)`` first (the scenario restarts the server there)."""
    from playwright.sync_api import sync_playwright

    out: Json = {}
    with sync_playwright() as p:
        if SYSTEM_CHROMIUM.exists():
            browser = p.chromium.launch(executable_path=str(SYSTEM_CHROMIUM), args=CHROMIUM_ARGS)
        else:
            browser = p.chromium.launch()
        try:
            for k, (name, path) in enumerate(pages):
                before(name)
                busy, started = machine_busy(), time.monotonic()
                out[name] = measure_page(
                    browser,
                    base_url + path,
                    editor=name == "editor",
                    arrows=params["arrows"],
                    home_end=params["home_end"],
                    pointer=params["pointer"],
                    reopen=params["reopen"],
                    seed=k,
                )
                wall = time.monotonic() - started
                out[name]["seconds"] = round(wall, 1)
                # every process's CPU meanwhile (the page, the server, anything else running)
                out[name]["machine_busy_cores"] = round((machine_busy() - busy) / wall, 2)
                out[name]["load_average"] = os.getloadavg()[0]
        finally:
            browser.close()
    return out
