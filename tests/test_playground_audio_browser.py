"""advlab playground's audio tab in a real headless Chromium (Debian's /usr/bin/chromium driven by Playwright): open
the tab, run Carlini & Wagner's attack on a tiny speech model run, and the three players get sources that play while
the transcriptions before/after and the dB figures show; an uploaded WAV becomes the utterance attacked; with no
speech run the tab says how to make one."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

playwright_sync = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [pytest.mark.skipif(not CHROMIUM.is_file(), reason="Debian's chromium is not at /usr/bin/chromium"),
              pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")]

from helpers import chromium_browser, open_playground_page, serve_playground  # noqa: E402
from test_playground_audio import make_speech_runs  # noqa: E402

from advlab.cli.playground import LOOPBACK_NAMES  # noqa: E402
from advlab.playground import PlaygroundLimits, create_app  # noqa: E402

PLAYERS = ("audio-clean", "audio-adversarial", "audio-perturbation")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    return make_speech_runs(tmp_path_factory.mktemp("audio-browser"))


@pytest.fixture(scope="module")
def server_url(runs):
    limits = PlaygroundLimits()
    with serve_playground(create_app([runs], limits, allowed_hosts=LOOPBACK_NAMES), limits) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium_browser() as chromium:
        yield chromium


@pytest.fixture
def page(browser, server_url):
    context, page, errors = open_playground_page(browser, server_url, "audio")
    page.wait_for_function("document.querySelectorAll('#audio-utterance option').length > 0", timeout=20_000)
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def run_and_wait(page, timeout: int = 60_000) -> dict:
    page.evaluate("window.__before = window.AudioPage.result")
    page.click("#audio-run")
    page.wait_for_function("window.AudioPage.result && window.AudioPage.result !== window.__before", timeout=timeout)
    return page.evaluate("window.AudioPage.result")


def players_play(page) -> list[float]:
    """Each player's duration once its source loaded (seconds; a source that does not decode never loads)."""
    return page.evaluate("""(ids) => Promise.all(ids.map((id) => new Promise((resolve) => {
        const a = document.getElementById(id);
        if (a.readyState >= 1) resolve(a.duration);
        else { a.onloadedmetadata = () => resolve(a.duration); a.onerror = () => resolve(-1); }
    })))""", list(PLAYERS))


def test_audio_tab_attacks_and_the_three_players_play(page, tmp_path):
    assert page.locator("#audio-victim").input_value() == "runs/asr"
    words = page.locator("#audio-vocabulary").inner_text().split(":", 1)[1].split("·")[0].split()
    target = " ".join(words[:2])
    page.select_option("#audio-utterance", "u:0")
    page.fill("#audio-target", target)
    page.fill("#audio-iterations", "150")
    result = run_and_wait(page)
    assert result["attack"] == "audio-cw" and result["success"]
    sources = [page.eval_on_selector(f"#{player}", "a => a.src") for player in PLAYERS]
    assert all(src.startswith("data:audio/wav;base64,") for src in sources) and len(set(sources)) == 3
    durations = players_play(page)
    assert all(abs(d - result["duration"]) < 0.01 for d in durations), durations
    assert page.locator("#audio-before").inner_text() == f"“{result['before']}”"
    assert page.locator("#audio-after").inner_text() == f"“{target}”"
    assert page.locator("#audio-success").inner_text() == "yes"
    assert page.locator("#audio-db-value").inner_text() == f"{result['db']:.1f} dB"
    assert "success" in page.locator("#audio-status").inner_text()
    blank = page.evaluate("(() => { const c = document.createElement('canvas'); c.width = 236; c.height = 128; "
                          "return c.toDataURL(); })()")
    assert page.evaluate("document.getElementById('audio-spec-clean').toDataURL()") != blank
    shot = tmp_path / "audio-tab.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 0


def test_an_uploaded_wav_is_the_audio_attacked(page, runs):
    page.set_input_files("#audio-file", str(runs / "data" / "00001.wav"))
    page.wait_for_function("document.getElementById('audio-utterance').value === 'upload'", timeout=20_000)
    assert "uploaded: 00001.wav" in page.locator("#audio-utterance").inner_text()
    page.fill("#audio-target", "")
    page.fill("#audio-iterations", "3")
    result = run_and_wait(page)
    assert result["source"] == "upload" and result["attack"] == "audio-pgd"
    assert page.locator("#audio-attack-name").inner_text() == "audio-pgd"
    page.fill("#audio-db", "4")
    page.click("#audio-run")
    page.wait_for_function("document.getElementById('audio-status').className.includes('error')")
    assert "must be negative" in page.locator("#audio-status").inner_text()


def test_with_no_speech_run_the_tab_says_how_to_make_one(browser, tmp_path):
    limits = PlaygroundLimits()
    with serve_playground(create_app([tmp_path], limits, allowed_hosts=LOOPBACK_NAMES), limits) as url:
        context, page, errors = open_playground_page(browser, url, "audio")
        page.wait_for_function("document.getElementById('audio-status').textContent.includes('advlab audio train')")
        assert page.locator("#audio-run").is_disabled()
        context.close()
        assert errors == []
