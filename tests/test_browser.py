"""The try-it page in a real browser: headless Chromium (Debian's) against the real server.

Types a text, submits, waits for the predicted label and the highlighted words, and saves a
screenshot (to $ATTENTEXT_SCREENSHOT, else a temporary file). Skips when chromium/chromedriver are not installed
(`apt-get install -y chromium chromium-driver`). ATTENTEXT_SERVE_RUN=<run dir> serves that run
instead of the tiny test run (to refresh the screenshot with a fully trained model).
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

import pytest
from conftest import AG_NEWS_LABELS

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# The screenshot goes to a temporary folder, or where ATTENTEXT_SCREENSHOT says (the README's
# docs/images/serve-page.png was made with ATTENTEXT_SCREENSHOT=docs/images/serve-page.png).
SCREENSHOT = Path(
    os.environ.get("ATTENTEXT_SCREENSHOT", Path(tempfile.gettempdir()) / "attentext-serve-page.png")
)
TEXT = "Wall Street stocks rallied after the bank reported record profits and raised its dividend."


@pytest.fixture
def server_url(run_dir):
    """The real server (uvicorn) on a free loopback port, in a background thread."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip(
            f"{CHROMIUM} or {CHROMEDRIVER} missing: apt-get install -y chromium chromium-driver"
        )
    pytest.importorskip("selenium")
    import uvicorn

    from attentext.serving import create_app

    app = create_app([Path(os.environ.get("ATTENTEXT_SERVE_RUN", run_dir))])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # bound here, so no other process can take the port meanwhile
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="attentext-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1000,1000",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_the_page_classifies_a_typed_text_and_highlights_its_words(server_url, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server_url)
    wait = WebDriverWait(browser, 20)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#model option"))  # models listed
    box = browser.find_element(By.ID, "text")
    box.clear()
    box.send_keys(TEXT)
    browser.find_element(By.ID, "submit").click()

    wait.until(ec.visibility_of_element_located((By.ID, "label")))
    wait.until(lambda d: d.find_element(By.ID, "label").text.strip())
    assert browser.find_element(By.ID, "label").text in AG_NEWS_LABELS
    bars = browser.find_elements(By.CSS_SELECTOR, "#probs .bar-name")
    assert [bar.text for bar in bars] == AG_NEWS_LABELS
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#tokens .token"))
    tokens = [t.text for t in browser.find_elements(By.CSS_SELECTOR, "#tokens .token")]
    assert tokens[:3] == ["Wall", "Street", "stocks"]
    assert not browser.find_element(By.ID, "error").is_displayed()

    # "occlusion" asks the model which words decide: the words shown again, by that method
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element(By.ID, "method")).select_by_value("occlusion")
    wait.until(lambda d: "occlusion" in d.find_element(By.ID, "tokens-note").text)
    assert "Most decisive" in browser.find_element(By.ID, "tokens-note").text
    tokens = [t.text for t in browser.find_elements(By.CSS_SELECTOR, "#tokens .token")]
    assert tokens == TEXT.split()  # occlusion's words are the text's whitespace words
    Select(browser.find_element(By.ID, "method")).select_by_value("attention")
    wait.until(lambda d: "Most attended" in d.find_element(By.ID, "tokens-note").text)

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    # The whole page in one picture: grow the viewport to the document's height.
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 1000, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )
    assert browser.save_screenshot(str(SCREENSHOT))
