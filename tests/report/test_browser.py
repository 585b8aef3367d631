"""The report in a real browser (headless Chromium): every figure is there after load, with the network cut."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND",
)


@pytest.fixture(scope="module")
def browser() -> str:
    found = next((path for path in map(shutil.which, BROWSERS) if path), None)
    if found is None:
        pytest.skip("no headless browser: install Chromium (apt-get install chromium) to run this test")
    return found


def open_page(browser: str, page: Path, profile: Path, *action: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [browser, *FLAGS, f"--user-data-dir={profile}", *action, page.resolve().as_uri()],
        capture_output=True,
        text=True,
        timeout=90,
    )


def test_every_figure_loads_without_the_network(browser: str, full_report: Path, tmp_path: Path) -> None:
    done = open_page(browser, full_report, tmp_path / "profile", "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert dom.count("<svg") == 4 and "<img" not in dom
    assert "<h1>reglab report: hand</h1>" in dom and "<h2>Settings and reproduction</h2>" in dom


def test_the_screenshot_shows_the_page(browser: str, full_report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "page.png"
    done = open_page(browser, full_report, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,4000")
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    with Image.open(shot) as image:
        assert image.size == (1280, 4000)
        coloured = image.convert("RGB").resize((64, 200)).getcolors(64 * 200)
    assert len(coloured) > 50  # text, figures and colours: not a blank page
