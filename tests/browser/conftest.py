"""Playwright against the live test server, driving Debian's Chromium (no browser download).

One browser for the whole session (pytest-playwright's session fixture); each test gets a fresh page,
signs in through the admin login form, and fails on any console error or uncaught page error.
Full-page screenshots go to test-artifacts/screenshots/ (gitignored); with ARENA_DOC_SCREENSHOTS=1 the
key pages are also saved, as the window shows them, to docs/screenshots/ for the README.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from django.contrib.auth.models import User
from django.db import connections

CHROMIUM = os.environ.get("ARENA_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium phones home (updates, sync, field trials).
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"
DOC_SHOTS = ROOT / "docs" / "screenshots"
PASSWORD = "pw-browser-operator-1"
T = TypeVar("T")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the browser tests last, in every process (pytest-xdist hands items out in this order).

    pytest-playwright's session-wide sync API keeps an asyncio event loop running in the main thread
    until the session ends; any later test calling asyncio.run() or async_to_sync (the LLM fakes, the
    debate coordinator) would fail with "cannot be called from a running event loop".
    """
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(
            f"No Chromium at {CHROMIUM}: install it with `apt-get install -y chromium` "
            "(scripts/test.sh does so when run as root) or set ARENA_CHROMIUM."
        )
    args = [*browser_type_launch_args.get("args", []), *CHROMIUM_FLAGS]
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": args}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "viewport": {"width": 1280, "height": 900}}


@pytest.fixture
def operator(transactional_db: None, settings: Any) -> User:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return User.objects.create_user("operator", password=PASSWORD, is_staff=True, is_superuser=True)


class ConsoleErrors(list[str]):
    """Console errors and uncaught exceptions of a page, collected as they happen."""

    def check(self) -> None:
        assert not self, "Browser console errors:\n" + "\n".join(self)


@pytest.fixture
def console_errors(page: Any) -> Iterator[ConsoleErrors]:
    errors = ConsoleErrors()
    page.on("console", lambda msg: errors.append(f"{msg.type}: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    yield errors
    errors.check()


def off_loop(fn: Callable[[], T]) -> T:
    """Run ``fn`` in a worker thread: Playwright's sync API keeps an event loop running in this one,
    and the debate coordinator's async_to_sync refuses to run inside a running loop."""

    def run() -> T:
        try:
            return fn()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def shot(page: Any, name: str, *, doc: bool = False) -> Path:
    """Save a full-page screenshot as an artifact (and, when asked, for the docs)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if doc and os.environ.get("ARENA_DOC_SCREENSHOTS") == "1":
        # For the docs, what fits the window: smaller files than the full-page artifacts.
        DOC_SHOTS.mkdir(parents=True, exist_ok=True)
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(DOC_SHOTS / path.name))
    return path


def login(page: Any, base_url: str, next_path: str = "/hub/") -> None:
    """Sign in through the admin login form, as an operator would."""
    page.goto(f"{base_url}{next_path}")
    assert "/admin/login/" in page.url  # anonymous: sent to the login form
    page.fill("#id_username", "operator")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base_url}{next_path}")


@pytest.fixture(autouse=True)
def _fresh_leaderboard_cache() -> None:
    """The leaderboard's answers and the rollup's watermark are cached per process, and every
    browser test starts from an emptied database."""
    from django.core.cache import cache

    from competition.services import rollup

    rollup._THROUGH_CACHE.clear()
    cache.clear()
