"""Fixtures of the console's end-to-end tests: Chromium, a served app, what the browser said.

Per test module: one app on a SQLite database of its own with the session's real trained
model (``scan_model_dir``), served on waitress in a thread, and one Chromium (Debian's,
``executable_path``: Playwright never downloads a browser here). Chromium is found through
``RISKSCAN_CHROMIUM`` or on the PATH; without it the tests skip, or fail where
``RISKSCAN_REQUIRE_REAL_PARTS=1`` (tests/real_parts.py).

``browser_errors`` collects what the pages it watches report as errors (console messages of
type ``error``, uncaught exceptions: a CSP violation is one), so that a test can assert there
were none. ``screenshots`` keeps a run's screenshots in a temporary folder and, with
``RISKSCAN_UPDATE_SCREENSHOTS=1``, writes them to docs/console/ as well.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from reliability.servers import serve_in_thread
from tests.e2e.driver import BrowserErrors, Screenshots, new_page
from tests.real_parts import require_or_skip

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCS_SCREENSHOTS = REPO_ROOT / "docs" / "console"
UPDATE_SCREENSHOTS = "RISKSCAN_UPDATE_SCREENSHOTS"
CHROMIUM_VARIABLE = "RISKSCAN_CHROMIUM"


def find_chromium() -> str | None:
    configured = os.environ.get(CHROMIUM_VARIABLE, "").strip()
    if configured:
        return configured if Path(configured).is_file() else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = find_chromium()
    if path is None:
        require_or_skip("Chromium is not installed (apt-get install chromium)")
    return path


@pytest.fixture(scope="module")
def browser(chromium_path):
    """One headless Chromium for the module's tests (each test opens contexts of its own)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require_or_skip("Playwright is not installed (pip install -r requirements-dev.txt)")

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path,
                                              args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def console_settings() -> dict:
    """Settings of the module's app beyond, or instead of, the ones every module's has; a
    module that needs others (webhooks sent to a receiver on loopback, a models root of its
    own) overrides this fixture."""
    return {}


@pytest.fixture(scope="module")
def console_app(scan_model_dir, tmp_path_factory, console_settings):
    """The app, on a SQLite database of the module's own, scanning with the real model."""
    from flask_migrate import upgrade

    from service import create_app, shutdown
    from service.config import Settings
    from service.extensions import db
    from service.serving.encoder import current_encoder

    folder = tmp_path_factory.mktemp("console-e2e")
    settings = Settings.from_env({}, **{
        "RISKSCAN_ENV": "testing",
        "SECRET_KEY": "console-e2e-secret-key-0123456789",
        "DATABASE_URL": f"sqlite:///{folder / 'console.db'}",
        "LOG_FORMAT": "text",
        "LOG_LEVEL": "ERROR",  # a refused cross-site form is logged as a warning, on purpose
        "MODEL_DIR": str(scan_model_dir),
        "UPLOAD_DIR": str(folder / "uploads"),
        "RATE_LIMIT_ENABLED": False,
        **console_settings,
    })
    app = create_app(settings)
    with app.app_context():
        upgrade()
        # The register's encoder loads in the background at start-up; a scan into a project
        # would wait for it, so wait here once.
        current_encoder()
    yield app
    shutdown(app)  # its job threads (webhook deliveries among them) end with the module
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="module")
def console_url(console_app) -> str:
    """The base URL the module's app is served at (http://127.0.0.1:<port>)."""
    with serve_in_thread(console_app, threads=4) as base_url:
        yield base_url


#: axe-core, the accessibility engine, from its npm package (tests/e2e/package.json;
#: `make test` and .ci/run install it with `npm ci --prefix tests/e2e`).
AXE_SCRIPT = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="session")
def axe_script() -> Path:
    if not AXE_SCRIPT.is_file():
        require_or_skip("axe-core is not installed: npm ci --prefix tests/e2e")
    return AXE_SCRIPT


@pytest.fixture
def page(browser, console_url):
    """A page of the test's own (a fresh context: its own cookies); what the browser
    reported as errors on it fails the test."""
    errors = BrowserErrors()
    page = new_page(browser, console_url, errors)
    yield page
    page.context.close()
    errors.assert_none()


@pytest.fixture
def refused_page(browser, console_url):
    """As ``page``, for a test that sends a form the API refuses: the browser logs the
    page's status (422), rightly; any other error fails the test."""
    errors = BrowserErrors()
    page = new_page(browser, console_url, errors)
    yield page
    page.context.close()
    errors.assert_none(allowing=("status of 422",))


@pytest.fixture(scope="module")
def browser_errors() -> BrowserErrors:
    return BrowserErrors()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory) -> Screenshots:
    update = os.environ.get(UPDATE_SCREENSHOTS) == "1"
    return Screenshots(tmp_path_factory.mktemp("console-screenshots"),
                       DOCS_SCREENSHOTS if update else None)
