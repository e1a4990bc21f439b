"""advlab playground in a real headless Chromium (Debian's /usr/bin/chromium driven by Playwright): the GAN page
plays, steps and pauses, trains on drawn points and on a CSV (typed or uploaded; a bad one is reported), honours
the speed and slow motion, and its download loads with load_generator; the attack page runs FGSM, BIM, PGD
(targeted too), CW and Square, drawing images, probability bars and the per-step trace."""

import os
import shutil
from pathlib import Path

import pytest

playwright_sync = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.is_file(), reason="Debian's chromium is not at /usr/bin/chromium")

from helpers import chromium_browser, open_playground_page, serve_playground  # noqa: E402

from advlab.cli.playground import LOOPBACK_NAMES  # noqa: E402
from advlab.playground import PlaygroundLimits, create_app  # noqa: E402

BUILTIN_EPOCHS = 3  # the built-in victim's code path with a short recipe, as in test_playground_api.py
# the built-in MNIST victim trains on first use: ~12 s on an idle core, several times that on a busy machine
VICTIM_WAIT_MS = 240_000
# ADVLAB_README_SCREENSHOTS=1 pytest tests/test_playground_browser.py refreshes the README's pictures; by default
# the screenshots stay in each test's tmp dir, so a test run leaves the checkout as it was
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"


@pytest.fixture(scope="module")
def server_url():
    limits = PlaygroundLimits()
    app = create_app([], limits, builtin_epochs=BUILTIN_EPOCHS, allowed_hosts=LOOPBACK_NAMES)
    with serve_playground(app, limits) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium_browser() as chromium:
        yield chromium


@pytest.fixture
def page(browser, server_url):
    context, page, errors = open_playground_page(browser, server_url, height=760)
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
    page.wait_for_selector("#digit-strip canvas", timeout=VICTIM_WAIT_MS)  # the built-in victim trains on first use
    assert page.locator("#victim option").first.get_attribute("value") == "builtin"
    assert "MNIST" in page.locator("#victim option").first.inner_text()
    labels = [int(title.split("label ")[1].rstrip(")")) for title in
              page.eval_on_selector_all("#digit-strip canvas", "cs => cs.map((c) => c.title)")]
    assert labels[:10] == list(range(10)), labels  # the test digits take the classes in turn
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


def draw_stroke(page, points, steps: int = 12) -> None:
    """Drag the mouse over the drawing canvas through `points`, fractions (x, y) of its width and height."""
    box = page.locator("#draw").bounding_box()
    at = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in points]
    page.mouse.move(*at[0])
    page.mouse.down()
    for point in at[1:]:
        page.mouse.move(*point, steps=steps)
    page.mouse.up()


def drawn_request(page) -> dict:
    """The body of the next POST /api/attack, sent by clicking Run attack."""
    with page.expect_request(lambda request: request.url.endswith("/api/attack")) as sent:
        page.click("#run-attack")
    return sent.value.post_data_json


def test_attack_page_attacks_a_drawn_digit_at_28x28(page, tmp_path):
    page.click("#tab-attack")
    page.wait_for_selector("#digit-strip canvas", timeout=VICTIM_WAIT_MS)
    page.click("#draw-reset")
    draw_stroke(page, [(0.5, 0.15), (0.5, 0.85)])  # a one, drawn long and thin
    page.select_option("#attack", "fgsm")
    request = drawn_request(page)
    page.wait_for_function("document.getElementById('adv-pred').dataset.label !== undefined", timeout=30_000)
    status = page.locator("#attack-status")
    assert status.get_attribute("class") != "error", status.inner_text()
    assert "label_source" not in status.inner_text() and "fgsm" in status.inner_text()
    image = request["image"]
    assert len(image) == 784 and "digit" not in request and all(0 <= value <= 1 for value in image)
    rows = [image[28 * row:28 * row + 28] for row in range(28)]
    inked = [row for row in range(28) if max(rows[row]) > 0.5]
    assert 3 <= inked[0] and inked[-1] <= 24 and len(inked) >= 18  # fitted to MNIST's 20-pixel box
    result = page.evaluate("AttackPage.result")
    assert result["shape"] == [1, 28, 28] and result["clean"]["pixels"] == image
    assert result["clean"]["prediction"] == 1, "the built-in MNIST victim did not read a drawn one as 1"
    save_screenshot(page, tmp_path, "playground-attack-drawn")


def test_attack_page_draws_for_the_8x8_victim_too(page):
    page.click("#tab-attack")
    page.wait_for_selector("#digit-strip canvas", timeout=VICTIM_WAIT_MS)
    page.select_option("#victim", "builtin-digits")
    page.wait_for_function("document.getElementById('attack-status').textContent.startsWith('test digit')",
                           timeout=60_000)
    page.click("#draw-reset")
    draw_stroke(page, [(0.3, 0.2), (0.7, 0.2), (0.4, 0.8)])  # a seven
    page.select_option("#attack", "fgsm")
    request = drawn_request(page)
    page.wait_for_function("document.getElementById('adv-pred').dataset.label !== undefined", timeout=30_000)
    assert request["victim"] == "builtin-digits" and len(request["image"]) == 64
    assert page.evaluate("AttackPage.result")["shape"] == [1, 8, 8]
    assert page.locator("#attack-status").get_attribute("class") != "error"


# ---------------------------------------------------------------------- helpers of the tests below

FRAMES = "Number(document.getElementById('frame-count').textContent)"
# every frame the page draws, as [milliseconds, step]: drawFrame sets #step-count before #frame-count
RECORD_FRAMES = """() => {
  window.recordedFrames = [];
  new MutationObserver(() => window.recordedFrames.push(
      [performance.now(), Number(document.getElementById('step-count').textContent)]))
    .observe(document.getElementById('frame-count'), { childList: true, characterData: true, subtree: true });
}"""
# pixels of a canvas near an RGB colour (opaque ones only), in total and per column slot of `slots`
COLOUR_PIXELS = """([id, rgb, tolerance, slots]) => {
  const canvas = document.getElementById(id);
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  const perSlot = new Array(slots).fill(0), perColumn = new Array(canvas.width).fill(0);
  let total = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] < 200) continue;
    if (Math.abs(data[i] - rgb[0]) > tolerance || Math.abs(data[i + 1] - rgb[1]) > tolerance
        || Math.abs(data[i + 2] - rgb[2]) > tolerance) continue;
    total += 1;
    const column = (i / 4) % canvas.width;
    perSlot[Math.floor(column / (canvas.width / slots))] += 1;
    perColumn[column] += 1;
  }
  // a bar's height: its tallest column (its pixel count also depends on its width, which the canvas rounds
  // differently from slot to slot)
  const heights = new Array(slots).fill(0);
  perColumn.forEach((count, column) => {
    const slot = Math.floor(column / (canvas.width / slots));
    heights[slot] = Math.max(heights[slot], count);
  });
  return { total, perSlot, heights };
}"""
GREY, RED, BLUE = (170, 170, 170), (221, 51, 51), (47, 111, 219)  # attack.js: #aaa, #d33, #2f6fdb


def wait_first_frame(page) -> None:
    page.wait_for_function(f"{FRAMES} >= 1", timeout=20_000)


def wait_next_frame(page, frames: int, timeout: int = 10_000) -> None:
    page.wait_for_function(f"{FRAMES} > {frames}", timeout=timeout)


def click_for_frame(page, selector: str) -> None:
    """Click and wait for the frame the server answers with."""
    frames = text_int(page, "#frame-count")
    page.click(selector)
    wait_next_frame(page, frames)


def set_speed(page, steps_per_frame: int) -> None:
    """Move the Speed slider as a user does (input while dragging, change on release); wait for the answer."""
    frames = text_int(page, "#frame-count")
    page.evaluate("""(value) => { const speed = document.getElementById('speed'); speed.value = value;
      speed.dispatchEvent(new Event('input')); speed.dispatchEvent(new Event('change')); }""", steps_per_frame)
    wait_next_frame(page, frames)


def recorded(page) -> list[list[float]]:
    return page.evaluate("window.recordedFrames")


def play_frames(page, minimum: int, timeout: int = 20_000) -> list[list[float]]:
    """Play until `minimum` more frames are drawn, pause; the frames drawn while playing."""
    start = len(recorded(page))
    page.click("#play")
    page.wait_for_function(f"window.recordedFrames.length >= {start + minimum}", timeout=timeout)
    page.click("#pause")
    return recorded(page)[start:]


def frame_rate(page, seconds: float) -> int:
    """Frames drawn in `seconds` of play, counted from the first playing frame (the play request's latency and the
    pause are outside the window)."""
    start = len(recorded(page))
    page.click("#play")
    page.wait_for_function(f"window.recordedFrames.length > {start}", timeout=10_000)
    first = len(recorded(page))
    page.wait_for_timeout(int(seconds * 1000))
    frames = len(recorded(page)) - first
    page.click("#pause")
    page.wait_for_timeout(600)  # a frame in flight arrives before the next measurement starts
    return frames


def download_generator(page, tmp_path: Path):
    """Click the page's download link; (generator, info, file name) loaded with advlab.playground.load_generator."""
    from advlab.playground import load_generator

    with page.expect_download(timeout=20_000) as download_info:
        page.click("#download")
    download = download_info.value
    target = tmp_path / "downloaded.safetensors"
    download.save_as(str(target))
    generator, info = load_generator(target)
    return generator, info, download.suggested_filename


def generated_points(generator, info, n: int = 500):
    import torch

    from advlab.gan.trainer import sample_noise

    with torch.no_grad():
        points = generator(sample_noise(n, info["z_dim"], info["noise"], torch.Generator().manual_seed(0)))
    assert points.shape == (n, 2)
    assert torch.isfinite(points).all()
    return points


# ---------------------------------------------------------------------- the GAN page: CSV, speed, download

CLUSTER_CSV = "x,y\n" + "\n".join(f"{100 + dx},{-50 + dy}" for dx in (-10, -5, 0, 5, 10) for dy in (-10, 0, 10))
LINE_CSV = "\n".join(f"{i};{2 * i}" for i in range(40))  # a diagonal line, ';' separated, no header


def test_gan_page_trains_on_a_csv_typed_or_uploaded_and_reports_a_malformed_one(page, tmp_path):
    wait_first_frame(page)
    for _ in range(3):
        click_for_frame(page, "#step")
    assert text_int(page, "#step-count") == 3
    ring = canvas_pixels(page, "points")

    page.select_option("#data", "csv")
    assert page.locator("#csv-box").is_visible() and page.locator("#draw-box").is_hidden()
    page.fill("#csv-text", CLUSTER_CSV)
    click_for_frame(page, "#csv-apply")
    assert page.locator("#gan-error").is_hidden(), page.locator("#gan-error").inner_text()
    assert text_int(page, "#step-count") == 0, "new CSV data did not reset the game"
    cluster = canvas_pixels(page, "points")
    assert cluster != ring, "the CSV's points did not replace the ring's"
    assert page.locator("#data").input_value() == "csv"

    # the generator downloaded now draws in the CSV's units (the map into [-1, 1]^2 is folded into it)
    generator, info, _ = download_generator(page, tmp_path)
    assert info["data"] == "csv"
    points = generated_points(generator, info)
    centre = points.new_tensor([100.0, -50.0])
    assert (points - centre).abs().max() < 30, f"generated points far from the CSV's cluster: {points[:3].tolist()}"

    csv_file = tmp_path / "line.csv"
    csv_file.write_text(LINE_CSV)
    page.set_input_files("#csv-file", str(csv_file))
    page.wait_for_function("document.getElementById('csv-text').value.startsWith('0;0')", timeout=10_000)
    assert page.locator("#csv-text").input_value() == LINE_CSV
    click_for_frame(page, "#step")
    click_for_frame(page, "#csv-apply")
    assert page.locator("#gan-error").is_hidden(), page.locator("#gan-error").inner_text()
    assert text_int(page, "#step-count") == 0
    line = canvas_pixels(page, "points")
    assert line not in (cluster, ring), "the uploaded CSV did not change the real points"

    click_for_frame(page, "#step")
    page.fill("#csv-text", "x,y\n1,2\n3,oops\n5,6\n")
    page.click("#csv-apply")
    page.wait_for_selector("#gan-error", state="visible", timeout=10_000)
    assert "CSV line 3" in page.locator("#gan-error").inner_text()
    assert text_int(page, "#step-count") == 1, "a refused CSV changed the game"
    save_screenshot(page, tmp_path, "playground-gan-csv-error")
    click_for_frame(page, "#step")  # the game goes on with the last good data
    assert text_int(page, "#step-count") == 2
    assert page.locator("#gan-error").is_hidden()
    page.fill("#csv-text", "1,2\n")
    page.click("#csv-apply")
    page.wait_for_selector("#gan-error", state="visible", timeout=10_000)
    assert "at least 2" in page.locator("#gan-error").inner_text()

    # while playing too, the error stays up as the game goes on with the last good data
    click_for_frame(page, "#step")
    assert page.locator("#gan-error").is_hidden()
    page.click("#play")
    wait_next_frame(page, text_int(page, "#frame-count"))
    page.fill("#csv-text", "1,2\n3,4,5\n")
    page.click("#csv-apply")
    page.wait_for_selector("#gan-error", state="visible", timeout=10_000)
    wait_next_frame(page, text_int(page, "#frame-count") + 3)
    page.click("#pause")
    assert page.locator("#gan-error").is_visible(), "the next frames hid the CSV's error"
    assert "CSV line 2" in page.locator("#gan-error").inner_text()


def test_gan_page_speed_and_slow_motion(page):
    wait_first_frame(page)
    page.evaluate(RECORD_FRAMES)

    set_speed(page, 3)
    assert page.locator("#speed-value").inner_text() == "3"
    start = text_int(page, "#step-count")
    steps = [start] + [step for _, step in play_frames(page, 4)]
    assert all(b - a == 3 for a, b in zip(steps, steps[1:])), f"at 3 steps/frame the frames showed steps {steps}"

    set_speed(page, 1)
    normal = frame_rate(page, 1.5)
    frames = text_int(page, "#frame-count")
    page.check("#slow")
    wait_next_frame(page, frames)
    assert page.locator("#speed-value").inner_text() == "1"
    before = len(recorded(page))
    slow = frame_rate(page, 1.5)
    assert slow <= 5, f"slow motion drew {slow} frames in 1.5 s (at most 2 a second expected)"
    assert slow < normal / 2, f"slow motion drew {slow} frames in 1.5 s, normal play {normal}"
    steps = [step for _, step in recorded(page)[before:]]
    assert all(b - a == 1 for a, b in zip(steps, steps[1:])), f"slow motion frames showed steps {steps}"

    # slow motion on, then off, gives the speed the user had chosen back
    for checked in (False, True):
        frames = text_int(page, "#frame-count")
        page.set_checked("#slow", checked)
        wait_next_frame(page, frames)
        assert page.locator("#slow").is_checked() == checked
    set_speed(page, 6)
    assert page.locator("#slow").is_checked(), "moving the speed in slow motion left slow motion"
    for checked in (False, True, False):
        frames = text_int(page, "#frame-count")
        page.set_checked("#slow", checked)
        wait_next_frame(page, frames)
        assert page.locator("#speed-value").inner_text() == ("1" if checked else "6")
    assert page.locator("#speed-value").inner_text() == "6"
    start = text_int(page, "#step-count")
    steps = [start] + [step for _, step in play_frames(page, 3)]
    assert all(b - a == 6 for a, b in zip(steps, steps[1:])), f"after slow motion the frames showed steps {steps}"


def test_gan_page_downloads_a_generator_that_loads(page, tmp_path):
    wait_first_frame(page)
    for _ in range(4):
        click_for_frame(page, "#step")
    href = page.locator("#download").get_attribute("href")
    assert href.startswith("/api/gan/") and href.endswith("/generator.safetensors")
    generator, info, name = download_generator(page, tmp_path)
    assert name == "advlab-generator-ring8-step4.safetensors"
    assert info["step"] == 4 and info["data"] == "ring8" and info["z_dim"] == 2
    points = generated_points(generator, info)
    assert points.std(0).min() > 0, "the generator draws a single point"

    # the same bytes through the link's href fetched by the page itself
    fetched = page.evaluate("""async () => { const response = await fetch(document.getElementById('download').href);
      return { status: response.status, bytes: Array.from(new Uint8Array(await response.arrayBuffer())) }; }""")
    assert fetched["status"] == 200
    from advlab.playground import load_generator

    again, info_again = load_generator(bytes(fetched["bytes"]))
    assert info_again == info
    assert (generated_points(again, info_again) == points).all()


# ---------------------------------------------------------------------- the attack page: every attack, targeted


def open_attack_page(page) -> None:
    page.click("#tab-attack")
    page.wait_for_selector("#digit-strip canvas", timeout=VICTIM_WAIT_MS)


def run_attack(page, attack: str, timeout: int = 60_000, **fields) -> None:
    """Pick `attack`, fill `fields` (input ids), run it and wait for its answer; the status must not be an error."""
    page.select_option("#attack", attack)
    for name, value in fields.items():
        if isinstance(value, bool):
            page.set_checked(f"#{name}", value)
        else:
            page.fill(f"#{name}", str(value))
    page.evaluate("delete document.getElementById('adv-pred').dataset.label")
    page.click("#run-attack")
    page.wait_for_function("!document.getElementById('run-attack').disabled && "
                           "(document.getElementById('adv-pred').dataset.label !== undefined || "
                           "document.getElementById('attack-status').className === 'error')", timeout=timeout)
    status = page.locator("#attack-status")
    assert status.get_attribute("class") != "error", f"{attack}: {status.inner_text()}"
    assert status.inner_text().startswith(attack), status.inner_text()


def colour_pixels(page, canvas_id: str, rgb, slots: int = 1, tolerance: int = 30) -> dict:
    return page.evaluate(COLOUR_PIXELS, [canvas_id, list(rgb), tolerance, slots])


def predictions(page) -> tuple[int, int]:
    return (int(page.locator("#clean-pred").get_attribute("data-label")),
            int(page.locator("#adv-pred").get_attribute("data-label")))


def assert_tallest_bar(heights: list[int], label: int, page, side: str) -> None:
    """The bar of the predicted class is the tallest, up to the one pixel by which the canvas may round two
    near-equal probabilities (C&W stops just across the boundary, where two classes share about half each), and
    the label and bars come from one response whose probabilities peak at that label.

    The failure seen on another machine (tallest red bar 4, label 6, after C&W) was this test's: it compared the
    bars' pixel counts, and the canvas rounds a bar's width (slot * 0.33 px) differently from slot to slot, so a
    bar a pixel shorter but a pixel wider counted more. The page draws the bars and the label from one pass."""
    assert heights[label] >= max(heights) - 1, (side, label, heights)
    assert heights[label] > 0, (side, label, heights)
    shown = page.evaluate(f"AttackPage.result.{side}")
    assert shown["prediction"] == label and shown["probabilities"][label] == max(shown["probabilities"]), shown


def assert_result_drawn(page, iterative: bool) -> None:
    """Images, probability bars (tallest grey bar at the clean prediction, tallest red at the adversarial one) and
    the per-step trace for iterative attacks (cleared otherwise)."""
    clean, adversarial = predictions(page)
    for canvas in ("clean-img", "adv-img", "pert-img"):
        assert page.evaluate(f"""(() => {{ const c = document.getElementById('{canvas}');
          return c.getContext('2d').getImageData(0, 0, c.width, c.height).data.some((v, i) => i % 4 === 3 && v);
        }})()"""), f"#{canvas} is blank"
    assert float(page.locator("#amp").inner_text()) > 0
    grey, red = colour_pixels(page, "probs", GREY, 10), colour_pixels(page, "probs", RED, 10)
    assert_tallest_bar(grey["heights"], clean, page, "clean")
    assert_tallest_bar(red["heights"], adversarial, page, "adversarial")
    loss, probability = colour_pixels(page, "trace", BLUE), colour_pixels(page, "trace", RED)
    if iterative:
        assert loss["total"] > 50 and probability["total"] > 50, f"trace not drawn: {loss}, {probability}"
    else:
        assert loss["total"] == 0 and probability["total"] == 0, "a one-step attack left a trace drawn"


def test_attack_page_runs_every_attack_and_draws_its_trace(page, tmp_path):
    open_attack_page(page)
    page.click("#digit-strip canvas:nth-child(3)")
    run_attack(page, "fgsm", eps=0.3)
    assert_result_drawn(page, iterative=False)
    run_attack(page, "bim", eps=0.3, steps=20)  # 20 steps spread the paper's distance: they reach eps 0.3
    assert_result_drawn(page, iterative=True)
    assert "evaluations" in page.locator("#attack-status").inner_text()
    clean, adversarial = predictions(page)
    assert adversarial != clean and "success" in page.locator("#attack-status").inner_text(), \
        "BIM at eps 0.3 in 20 steps did not change the prediction"
    run_attack(page, "cw")
    assert_result_drawn(page, iterative=True)
    clean, adversarial = predictions(page)
    assert adversarial != clean and "success" in page.locator("#attack-status").inner_text(), \
        "CW (an unbounded L2 attack) did not change the prediction"
    run_attack(page, "square", eps=0.3, steps=20)  # the page asks for 10 queries a step: 200
    assert_result_drawn(page, iterative=True)
    save_screenshot(page, tmp_path, "playground-attack-square")


def test_attack_page_targeted_pgd_reaches_its_target(page, tmp_path):
    open_attack_page(page)
    run_attack(page, "fgsm", eps=0.05)  # to read the clean prediction and the true label
    clean, _ = predictions(page)
    label = int(page.locator("#attack-status").inner_text().split("true label ")[1].split()[0])
    target = next(c for c in range(10) if c not in (clean, label))
    run_attack(page, "pgd", eps=0.5, steps=40, targeted=True, target=target)
    clean_after, adversarial = predictions(page)
    assert clean_after == clean
    assert adversarial == target, f"targeted PGD at {target} ended at {adversarial}"
    assert page.locator("#attack-status").inner_text().startswith(f"pgd → {target}: success")
    assert_result_drawn(page, iterative=True)
    save_screenshot(page, tmp_path, "playground-attack-targeted")
