"""The drawing page in a real browser: headless Chromium (Debian's package, driven by Playwright
through its executablePath; .ci/install-browser installs both) draws a digit on the canvas,
submits it, and reads the trained classifier's answer."""
import pytest
from playwright.sync_api import sync_playwright

from macrograd.serve import create_app
from digit_classifier import LiveServer, trained_digit_classifier

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def page_url(tmp_path_factory):
    path = trained_digit_classifier(tmp_path_factory)[0]
    with LiveServer(create_app(path)) as url:
        yield url


def draw(page, strokes):
    """Each stroke a list of (x, y) points in the 280x280 canvas, drawn with the mouse."""
    box = page.locator("#canvas").bounding_box()
    for stroke in strokes:
        (x, y), rest = stroke[0], stroke[1:]
        page.mouse.move(box["x"] + x, box["y"] + y)
        page.mouse.down()
        for x, y in rest:
            page.mouse.move(box["x"] + x, box["y"] + y, steps=8)
        page.mouse.up()


def test_draw_a_digit_and_read_the_prediction(page_url, tmp_path):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page()
            page.goto(page_url, timeout=30_000)
            assert page.text_content("#prediction") == "?"
            draw(page, [[(140, 40), (138, 140), (136, 240)]])  # a one: a single upright stroke
            page.click("#predict")
            page.wait_for_function("document.getElementById('prediction').textContent !== '?'", timeout=30_000)
            assert page.text_content("#prediction") == "1"
            bars = page.locator("#probabilities .bar")
            assert bars.count() == 10
            page.screenshot(path=str(tmp_path / "page.png"))

            page.click("#clear")
            assert page.text_content("#prediction") == "?"
            draw(page, [[(80, 60), (200, 60), (120, 240)]])  # a seven: a bar and a slanted stem
            page.click("#predict")
            page.wait_for_function("document.getElementById('prediction').textContent !== '?'", timeout=30_000)
            assert page.text_content("#prediction") == "7"
            assert page.text_content("#error") == ""
        finally:
            browser.close()
