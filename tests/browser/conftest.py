"""Real-browser tests: Playwright driving Debian's Chromium (never `playwright install`).

Without Chromium (or without the playwright package) the tests are skipped with the
reason; with REQUIRE_BROWSER=1 (set by .ci/run) a missing browser fails the run instead.
CHROMIUM_PATH points at another Chromium (or at nothing, to check the skip).
"""

import os
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# A service worker's own fetches obey context.set_offline only with this (Playwright
# reads it when it starts): the offline diary tests need both.
os.environ.setdefault("PW_EXPERIMENTAL_SERVICE_WORKER_NETWORK_EVENTS", "1")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# Chromium as this machine allows it: no sandbox as root, no network beyond loopback.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 10_000


def _unavailable(reason: str):
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(f"REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(f"browser test skipped: {reason}")


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        _unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:  # pragma: no cover - requirements-dev.txt installs it
        _unavailable(f"the playwright package cannot be imported: {error}")
    # Playwright's sync API keeps an event loop running in the test thread for as long as
    # it is started; Django's async-safety guard would otherwise refuse every database
    # call made by the tests (and by the transactional tests that pytest-django runs
    # after them), so it is switched off for exactly that long.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = None
    try:
        try:
            playwright = sync_playwright().start()
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
        except Exception as error:
            # Playwright appends its whole call log; the first line says what went wrong.
            message = (str(error).strip() or repr(error)).splitlines()[0]
            _unavailable(f"Chromium at {CHROMIUM} did not start: {message}")
        yield browser
        browser.close()
    finally:
        if playwright is not None:
            playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser):
    """A fresh browser context (no cookies) per test, closed afterwards."""
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def expect(browser):
    """Playwright's retrying assertions, imported only once the browser is known to run."""
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    return expect


@pytest.fixture
def artifacts():
    """test-artifacts/ at the project root (gitignored): screenshots for a human to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
