"""advlab playground in a real headless Chromium (Debian's /usr/bin/chromium driven by Playwright): the GAN page
plays, steps and pauses; the attack page runs PGD on a test digit and the predicted label changes."""

import os
import shutil
import threading
import time
from pathlib import Path

import pytest

playwright_sync = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.is_file(), reason="Debian's chromium is not at /usr/bin/chromium")

from advlab.cli.playground import LOOPBACK_NAMES, listen, make_server  # noqa: E402
from advlab.playground import PlaygroundLimits, create_app  # noqa: E402

BUILTIN_EPOCHS = 3  # the built-in victim's code path with a short recipe, as in test_playground_api.py
# ADVLAB_README_SCREENSHOTS=1 pytest tests/test_playground_browser.py refreshes the README's pictures; by default
# the screenshots stay in each test's tmp dir, so a test run leaves the checkout as it was
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"


@pytest.fixture(scope="module")
def server_url():
    limits = PlaygroundLimits()
    server = make_server(create_app([], limits, builtin_epochs=BUILTIN_EPOCHS, allowed_hosts=LOOPBACK_NAMES), limits)
    sock = listen("127.0.0.1", 0)
    port = sock.getsockname()[1]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    assert server.started
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    with playwright_sync.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server_url):
    context = browser.new_context(viewport={"width": 1280, "height": 760})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server_url + "/")
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def text_int(page, selector: str) -> int:
    return int(page.locator(selector).inner_text())


def canvas_pixels(page, canvas_id: str) -> str:
    return page.evaluate(f"document.getElementById('{canvas_id}').toDataURL()")


def save_screenshot(page, tmp_path: Path, name: str) -> None:
    shot = tmp_path / f"{name}.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 0
    if os.environ.get("ADVLAB_README_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOTS / f"{name}.png")


def test_gan_page_plays_steps_and_pauses(page, tmp_path):
    page.wait_for_function("Number(document.getElementById('frame-count').textContent) >= 1", timeout=20_000)
    assert text_int(page, "#step-count") == 0
    points_before, loss_before = canvas_pixels(page, "points"), canvas_pixels(page, "loss-curve")

    page.click("#play")
    page.wait_for_function("Number(document.getElementById('step-count').textContent) >= 200", timeout=30_000)
    page.click("#pause")
    page.wait_for_timeout(500)  # frames already in flight arrive, then the counter stays put
    paused_at = text_int(page, "#step-count")
    page.wait_for_timeout(700)
    assert text_int(page, "#step-count") == paused_at, "training went on after Pause"
    assert canvas_pixels(page, "points") != points_before, "the point cloud did not change while playing"
    assert canvas_pixels(page, "loss-curve") != loss_before, "the loss curve did not change while playing"

    frames = text_int(page, "#frame-count")
    page.click("#step")
    page.wait_for_function(f"Number(document.getElementById('frame-count').textContent) > {frames}", timeout=10_000)
    assert text_int(page, "#step-count") == paused_at + 1
    assert page.locator("#download").get_attribute("href").endswith("/generator.safetensors")
    assert page.locator("#modes").inner_text() != "–" and "/" in page.locator("#modes").inner_text()
    save_screenshot(page, tmp_path, "playground-gan")


def test_gan_page_changes_a_learning_rate_without_reset(page):
    page.wait_for_function("Number(document.getElementById('frame-count').textContent) >= 1", timeout=20_000)
    for _ in range(3):
        frames = text_int(page, "#frame-count")
        page.click("#step")
        page.wait_for_function(f"Number(document.getElementById('frame-count').textContent) > {frames}")
    frames = text_int(page, "#frame-count")
    page.fill("#lr_d", "0.0005")
    page.dispatch_event("#lr_d", "change")
    page.wait_for_function(f"Number(document.getElementById('frame-count').textContent) > {frames}")
    assert text_int(page, "#step-count") == 3, "changing a learning rate reset the game"
    assert page.locator("#lr_d").input_value() == "0.0005"


def test_attack_page_pgd_changes_the_predicted_label(page, tmp_path):
    page.click("#tab-attack")
    page.wait_for_selector("#digit-strip canvas", timeout=60_000)  # the built-in victim trains on first use
    assert page.locator("#victim option").first.get_attribute("value") == "builtin"
    page.select_option("#attack", "pgd")
    page.fill("#eps", "0.3")
    page.fill("#steps", "20")
    page.click("#run-attack")
    page.wait_for_function("document.getElementById('adv-pred').dataset.label !== undefined", timeout=60_000)
    clean = int(page.locator("#clean-pred").get_attribute("data-label"))
    adversarial = int(page.locator("#adv-pred").get_attribute("data-label"))
    assert adversarial != clean, f"PGD at eps 0.3 left the prediction at {clean}"
    assert "success" in page.locator("#attack-status").inner_text()
    save_screenshot(page, tmp_path, "playground-attack")


def test_gan_page_switches_data_and_trains_on_drawn_points(page):
    page.wait_for_function("Number(document.getElementById('frame-count').textContent) >= 1", timeout=20_000)
    ring = canvas_pixels(page, "points")
    frames = text_int(page, "#frame-count")
    page.select_option("#data", "spiral")
    page.wait_for_function(f"Number(document.getElementById('frame-count').textContent) > {frames}")
    assert canvas_pixels(page, "points") != ring, "picking the spiral did not change the real points"

    page.select_option("#data", "points")
    box = page.locator("#points").bounding_box()
    for fx, fy in ((0.3, 0.3), (0.7, 0.3), (0.5, 0.7)):
        page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
    frames = text_int(page, "#frame-count")
    page.click("#draw-apply")
    page.wait_for_function(f"Number(document.getElementById('frame-count').textContent) > {frames}")
    assert page.locator("#gan-error").is_hidden()
    assert text_int(page, "#step-count") == 0  # new data resets the game


def test_attack_page_attacks_a_drawn_digit(page):
    page.click("#tab-attack")
    page.wait_for_selector("#digit-strip canvas", timeout=60_000)
    page.click("#draw-reset")
    box = page.locator("#draw").bounding_box()
    page.mouse.move(box["x"] + 0.5 * box["width"], box["y"] + 0.15 * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + 0.5 * box["width"], box["y"] + 0.85 * box["height"], steps=12)
    page.mouse.up()
    page.select_option("#attack", "fgsm")
    page.click("#run-attack")
    page.wait_for_function("document.getElementById('adv-pred').dataset.label !== undefined", timeout=30_000)
    status = page.locator("#attack-status")
    assert status.get_attribute("class") != "error", status.inner_text()
    assert "label_source" not in status.inner_text() and "fgsm" in status.inner_text()
