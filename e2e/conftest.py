"""The e2e harness: a real ``swell serve`` subprocess, Chromium through Playwright's sync API,
and a factory of people, each in a browser context of their own.

When a test fails, every page it opened is saved as a screenshot next to its console log (and
the server's log of the test) in ``test-results/<test name>/``.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright, ViewportSize, sync_playwright
from tests.server import ServerProcess

from e2e.pages import NewPerson, Person

SYSTEM_CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SERVER_ENV = {
    "SWELL_ROOM_IDLE_SECONDS": "0.2",
    # every person of the suite comes from 127.0.0.1: the per-address limits are for attackers
    "SWELL_CREATES_PER_MINUTE": "100000",
    "SWELL_CONNECTS_PER_MINUTE": "100000",
    "SWELL_WRITES_PER_MINUTE": "100000",
}
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}

_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()
_OUTPUT_CLEARED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keeps each phase's report on the test item, for fixtures' teardown to look at."""
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


def _failed(request: pytest.FixtureRequest) -> bool:
    reports = request.node.stash.get(_REPORTS, {})
    return any(report.failed for report in reports.values())


def _output_dir(request: pytest.FixtureRequest) -> Path:
    name = re.sub(r"[^\w.-]+", "_", request.node.name).strip("_")
    return request.config.rootpath / "test-results" / name


def _fresh_output_dir(request: pytest.FixtureRequest) -> Path:
    path = _output_dir(request)
    if not request.node.stash.get(_OUTPUT_CLEARED, False):
        shutil.rmtree(path, ignore_errors=True)  # what an earlier run left
        request.node.stash[_OUTPUT_CLEARED] = True
    path.mkdir(parents=True, exist_ok=True)
    return path


# --- the server ----------------------------------------------------------------------------


def _start_server(directory: Path, env: dict[str, str] | None = None) -> ServerProcess:
    process = ServerProcess(
        f"sqlite+aiosqlite:///{directory / 'swell.db'}",
        directory / "server.log",
        {**SERVER_ENV, **(env or {})},
    )
    process.start()
    return process


def module_server(
    tmp_path_factory: pytest.TempPathFactory, name: str, env: dict[str, str]
) -> Iterator[ServerProcess]:
    """For a module-scoped fixture: a server of the module's own with ``env`` on top of the
    suite's settings (e.g. shorter edit bursts)."""
    process = _start_server(tmp_path_factory.mktemp(name), env)
    yield process
    process.stop()


def keep_server_log(
    process: ServerProcess, request: pytest.FixtureRequest
) -> Iterator[ServerProcess]:
    """For a function-scoped ``server`` fixture over a module's server: on failure, what it
    logged during the test goes to test-results/."""
    log = process.log_path
    start = log.stat().st_size if log.exists() else 0
    yield process
    if _failed(request):
        with log.open("rb") as f:
            f.seek(start)
            (_fresh_output_dir(request) / "server.log").write_bytes(f.read())


@pytest.fixture(scope="session")
def _session_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = _start_server(tmp_path_factory.mktemp("server"))
    yield process
    process.stop()


@pytest.fixture
def server(
    _session_server: ServerProcess, request: pytest.FixtureRequest
) -> Iterator[ServerProcess]:
    """The server shared by the tests that neither stop nor freeze it (they make their own
    documents); on failure, what it logged during the test is saved."""
    yield from keep_server_log(_session_server, request)


@pytest.fixture
def own_server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    """A server for this test alone, for tests that stop, restart or freeze it."""
    process = _start_server(tmp_path)
    try:
        yield process
    finally:
        process.stop()
        if _failed(request):
            shutil.copy(process.log_path, _fresh_output_dir(request) / "server.log")


# --- the browser and the people in it -------------------------------------------------------


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    if SYSTEM_CHROMIUM.exists():
        browser = playwright_driver.chromium.launch(
            executable_path=str(SYSTEM_CHROMIUM), args=CHROMIUM_ARGS
        )
    else:
        browser = playwright_driver.chromium.launch()
    yield browser
    browser.close()


@pytest.fixture
def new_person(browser: Browser, request: pytest.FixtureRequest) -> Iterator[NewPerson]:
    """``new_person(name, color)``: a person with a new browser context of their own, whose
    name is already in localStorage (so the name dialog does not appear); with
    ``first_visit=True`` Swell does not know them yet (the editor asks for their name)."""
    people: list[Person] = []

    def make(name: str, color: str, *, first_visit: bool = False) -> Person:
        context = browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(10_000)
        context.set_default_navigation_timeout(15_000)
        if not first_visit:
            user = json.dumps({"name": name, "color": color})
            context.add_init_script(
                f"try {{ localStorage.setItem('swell.user', {json.dumps(user)}); }} catch {{}}"
            )
        person = Person(name, color, context)
        people.append(person)
        return person

    yield make

    try:
        if _failed(request):
            _save_pages(people, _fresh_output_dir(request))
    finally:
        for person in people:
            person.context.close()


def _save_pages(people: list[Person], directory: Path) -> None:
    for person in people:
        slug = re.sub(r"\W+", "-", person.name).strip("-").lower() or "person"
        for index, page in enumerate(person.pages):
            stem = f"{slug}-page{index + 1}"
            lines = person.console.get(index, [])
            (directory / f"{stem}-console.log").write_text(
                "\n".join(lines) + "\n", encoding="utf-8"
            )
            if page.is_closed():
                continue
            try:
                page.screenshot(path=directory / f"{stem}.png", full_page=True, timeout=5_000)
            except Exception as exc:  # a broken page must not hide the other pages' evidence
                (directory / f"{stem}.png.error.txt").write_text(f"{exc!r}\n", encoding="utf-8")
