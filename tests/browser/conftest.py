"""Shared fixtures for the browser tests: a headless Chromium driven by Playwright.

The browser is Debian's ``chromium`` package (``scripts/install_browser.sh``),
launched through Playwright for Python with ``executable_path=/usr/bin/chromium``;
Playwright's own browser download is never used.  Every request to a host other
than this machine is aborted and recorded, so a page that needs the internet
fails its test instead of hanging.

Every test in this folder carries the ``browser`` marker.  A developer may leave
them out with ``pytest -m "not browser"``.  When the environment variable
``CI`` is true they may not be skipped or deselected: a missing browser, a
missing build or a deselected browser test is a failure there.
"""

from __future__ import annotations

import http.server
import os
import socket
import threading
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CHROMIUM = Path(os.environ.get("DDPM_CHROMIUM", "/usr/bin/chromium"))
# The machine's network is closed: these switches stop Chromium from trying
# to reach Google's services in the background (which would log errors).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
VIEWPORT = {"width": 1280, "height": 900}
PHONE_VIEWPORT = {"width": 390, "height": 844}


def in_ci() -> bool:
    """True when the environment variable CI is set to a true value."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def unavailable(reason: str) -> None:
    """Skip the test locally; fail it in CI, where browser tests must run."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true, so browser tests may not be skipped)", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def is_local_url(url: str) -> bool:
    """True for URLs that never leave this machine (127.0.0.1, data:, blob:, about:)."""
    parts = urlsplit(url)
    if parts.scheme in {"data", "blob", "about", "javascript", "chrome-error", "chrome"}:
        return True
    return (parts.hostname or "") in LOCAL_HOSTS


# --------------------------------------------------------------------------- markers


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.browser)


_deselected_browser_tests: list[str] = []


def pytest_deselected(items):
    _deselected_browser_tests.extend(
        item.nodeid for item in items if item.get_closest_marker("browser") is not None
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if (
        in_ci()
        and report.skipped
        and not hasattr(report, "wasxfail")
        and item.get_closest_marker("browser") is not None
    ):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"browser test skipped with CI=true, which is not allowed: {reason}"


def pytest_sessionfinish(session, exitstatus):
    if in_ci() and _deselected_browser_tests:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if in_ci() and _deselected_browser_tests:
        terminalreporter.section("browser tests deselected in CI", sep="=", red=True, bold=True)
        terminalreporter.write_line(
            f"{len(_deselected_browser_tests)} browser test(s) were deselected, but with CI=true "
            "the browser tests must run; remove -m 'not browser' / -k from the CI command."
        )


# --------------------------------------------------------------------------- browser


def _guard_network(context) -> None:
    """Abort every request that would leave this machine."""

    def guard(route):
        if is_local_url(route.request.url):
            route.continue_()
        else:
            route.abort("blockedbyclient")

    context.route("**/*", guard)


@pytest.fixture(scope="session")
def chromium_browser():
    """One headless Chromium for the whole session; each context gets a fresh profile."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        unavailable(f"{CHROMIUM} not found; run scripts/install_browser.sh")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright for Python is not installed (see requirements.txt)")

    playwright = sync_playwright().start()
    browser = None
    try:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
    finally:
        if browser is not None:
            browser.close()
        playwright.stop()


@pytest.fixture(scope="session")
def browser_context(chromium_browser):
    """A desktop-sized browsing context (1280 × 900), shared by the browser tests.

    Requests that would leave this machine are aborted (and recorded by
    :class:`PageWatch`), so nothing is ever downloaded while the tests run.
    """
    context = chromium_browser.new_context(viewport=VIEWPORT, service_workers="block")
    context.set_default_timeout(30_000)
    _guard_network(context)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture(scope="session")
def phone_context(chromium_browser):
    """A phone: 390 × 844 CSS pixels, a touch screen, two device pixels per CSS pixel."""
    context = chromium_browser.new_context(
        viewport=PHONE_VIEWPORT,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        service_workers="block",
    )
    context.set_default_timeout(30_000)
    _guard_network(context)
    try:
        yield context
    finally:
        context.close()


@dataclass
class PageWatch:
    """Everything that went wrong while a page was open.

    ``console_errors``: console messages of type ``error``; ``page_errors``:
    uncaught exceptions; ``bad_responses``: local requests answered with a
    status >= 400; ``failed_requests``: local requests that failed outright;
    ``external_requests``: any request to another host (aborted by the guard).
    """

    page: object
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    bad_responses: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, context) -> "PageWatch":
        page = context.new_page()
        watch = cls(page)

        def on_console(message):
            if message.type == "error":
                location = message.location or {}
                where = location.get("url", "")
                watch.console_errors.append(f"{message.text} [{where}]")

        def on_request(request):
            if not is_local_url(request.url):
                watch.external_requests.append(request.url)

        def on_response(response):
            if response.status >= 400 and is_local_url(response.url):
                watch.bad_responses.append(f"{response.status} {response.url}")

        def on_failed(request):
            if is_local_url(request.url):
                watch.failed_requests.append(f"{request.failure} {request.url}")

        page.on("console", on_console)
        page.on("pageerror", lambda error: watch.page_errors.append(str(error)))
        page.on("request", on_request)
        page.on("response", on_response)
        page.on("requestfailed", on_failed)
        return watch

    def close(self) -> None:
        self.page.close()


@pytest.fixture
def watched_page(browser_context):
    """A fresh tab whose errors and requests are recorded; closed afterwards."""
    watch = PageWatch.open(browser_context)
    try:
        yield watch
    finally:
        watch.close()


# --------------------------------------------------------------------------- static server


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - signature fixed by http.server
        pass


class StaticServer:
    """``http.server`` serving one directory on 127.0.0.1 from a daemon thread."""

    def __init__(self, directory: Path):
        handler = partial(_QuietHandler, directory=str(directory))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "StaticServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


# --------------------------------------------------------------------------- the built book, visited


@pytest.fixture(scope="session")
def book_server():
    """The built book (``make book``) served over http on 127.0.0.1 for the whole session."""
    from .pages import BUILD

    if not any(BUILD.glob("*.html")):
        unavailable(f"the book is not built: {BUILD} has no HTML pages (run `make book`)")
    with StaticServer(BUILD) as server:
        yield server


def _visits(context, server, screen: str):
    """visit(rel) -> Visit: each page opened once on ``screen``, the result reused."""
    from .pages import BUILD, visit_page

    visits: dict = {}

    def _visit(rel: str):
        if rel == "<no build>":
            unavailable(f"the book is not built: {BUILD} has no HTML pages (run `make book`)")
        if not (BUILD / rel).is_file():
            unavailable(f"{rel} is not built: {BUILD / rel} is missing (run `make book`)")
        if isinstance(visits.get(rel), Exception):
            raise AssertionError(f"{rel} could not be checked on the {screen}: {visits[rel]}")
        if rel not in visits:
            try:
                visits[rel] = visit_page(context, server.url + rel, rel, screen)
            except Exception as err:
                visits[rel] = err
                raise
        return visits[rel]

    return _visit


@pytest.fixture(scope="session")
def desktop_visit(browser_context, book_server):
    """desktop_visit(rel) -> pages.Visit: ``rel`` opened once at 1280 × 900 (see pages.py)."""
    return _visits(browser_context, book_server, "desktop")


@pytest.fixture(scope="session")
def phone_visit(phone_context, book_server):
    """phone_visit(rel) -> pages.Visit: ``rel`` opened once on the phone (see pages.py)."""
    return _visits(phone_context, book_server, "phone")
