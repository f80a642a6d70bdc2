"""Browser fixtures: the app served on 127.0.0.1 and a headless system Chromium.

The browser is Debian's /usr/bin/chromium, and the tests never download one.
"""

import contextvars
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
# Each step took under a second in local runs, so a stuck step fails after 10 s
# instead of Playwright's default 30 s.
TIMEOUT_MS = 10_000


@pytest.fixture
def live_server(app):
    """Serve the test's app over HTTP on a free port and return its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    # A fresh context keeps the test's app context and database session out
    # of the server thread, as in a real server process.
    thread = threading.Thread(
        target=contextvars.Context().run,
        args=(server.serve_forever,),
        name="live-server",
        daemon=True,
    )
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser():
    """Launch the system Chromium once per test session."""
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} not found. Install Debian's chromium package to run "
            "the browser tests."
        )
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item for fixtures to read."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def new_page(request, browser, live_server, artifacts):
    """Return a function that opens a page in a fresh browser context.

    When the test fails, every open page is saved as FAILED-<test>-<n>.png.
    """
    contexts = []

    def open_page(**context_options):
        context = browser.new_context(
            base_url=live_server, locale="vi-VN", **context_options
        )
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield open_page
    report = getattr(request.node, "report_call", None)
    failed = report is not None and report.failed
    for index, context in enumerate(contexts, start=1):
        if failed:
            for page in context.pages:
                path = artifacts / f"FAILED-{request.node.name}-{index}.png"
                page.screenshot(path=path, full_page=True)
        context.close()


@pytest.fixture(scope="session")
def artifacts():
    """Create the screenshot folder, delete earlier failure screenshots, return it."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for stale in ARTIFACTS.glob("FAILED-*.png"):
        stale.unlink()
    return ARTIFACTS
