"""A real browser (headless Chromium + Selenium) on the leaderboard pages.

Marker ``browser``.  Needs the Debian packages ``chromium`` and
``chromium-driver``; skipped when /usr/bin/chromium is missing, unless
GOSS_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import os
import shutil

import pytest

pytest.importorskip("fastapi")

from test_server_support import (  # noqa: E402
    ServerThread,
    folder_members,
    make_pred,
    make_split,
    serve,
    zip_bytes,
)

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"


def _driver_paths() -> tuple[str, str]:
    driver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    missing = [p for p in (CHROMIUM, driver) if not os.path.exists(p)]
    if missing:
        reason = f"headless Chromium not installed ({', '.join(missing)} missing; apt-get install chromium chromium-driver)"
        if os.environ.get("GOSS_REQUIRE_BROWSER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return CHROMIUM, driver


@pytest.fixture
def browser(tmp_path):
    binary, driver_path = _driver_paths()
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
        f"--user-data-dir={tmp_path / 'chrome-profile'}",
    ):
        opts.add_argument(arg)
    drv = webdriver.Chrome(service=Service(executable_path=driver_path), options=opts)
    drv.set_page_load_timeout(30)
    yield drv
    drv.quit()


def test_sort_open_submission_and_screenshot(tmp_path, browser):
    from selenium.webdriver.common.by import By

    from server import services
    from server.worker import run_worker

    images = make_split(tmp_path)
    s = serve(tmp_path, tmp_path / "gt", bench_kw={"gt_public": True})
    tokens = [s.token, services.add_team(s.db, "beta")[1], services.add_team(s.db, "gamma")[1]]
    for i, tok in enumerate(tokens):
        pred = make_pred(tmp_path, images, seed=10 + i, name=f"pred{i}")
        assert s.upload(zip_bytes(folder_members(pred)), token=tok, method=f"method-{i}").status_code == 202
    assert run_worker(s.settings, once=True) == 3
    with ServerThread(s.app) as server:
        browser.get(f"{server.url}/benchmarks/bench")
        assert "bench" in browser.title

        def column(key: str) -> list[float]:
            heads = browser.find_elements(By.CSS_SELECTOR, "#leaderboard thead th")
            idx = next(i for i, h in enumerate(heads) if h.get_attribute("data-key") == key)
            rows = browser.find_elements(By.CSS_SELECTOR, "#leaderboard tbody tr")
            return [
                float(r.find_elements(By.TAG_NAME, "td")[idx].get_attribute("data-value"))
                for r in rows
            ]

        assert len(column("GQ")) == 3
        header = browser.find_element(By.CSS_SELECTOR, '#leaderboard th[data-key="mIoU"]')
        header.click()  # JS sort, descending first
        assert header.get_attribute("aria-sort") == "descending"
        vals = column("mIoU")
        assert vals == sorted(vals, reverse=True)
        header.click()  # toggles to ascending
        vals = column("mIoU")
        assert vals == sorted(vals)
        assert browser.current_url.endswith("/benchmarks/bench")  # sorted without reloading
        first = browser.find_element(By.CSS_SELECTOR, "#leaderboard tbody tr td a")
        name = first.text
        first.click()
        assert browser.find_element(By.TAG_NAME, "h1").text.endswith(name)
        assert browser.find_element(By.ID, "status").text == "finished"
        assert len(browser.find_elements(By.CSS_SELECTOR, "#per-class tbody tr")) == 6
        assert browser.find_elements(By.CSS_SELECTOR, "svg.plot circle")
        img = browser.find_element(By.CSS_SELECTOR, "figure img")
        # the panel is rendered on request and loaded lazily: wait until the browser has decoded it
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(browser, 30).until(
            lambda d: d.execute_script("return arguments[0].complete", img)
        )
        assert browser.execute_script("return arguments[0].naturalWidth", img) > 0
        shot = tmp_path / "submission.png"
        assert browser.save_screenshot(str(shot))
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    s.client.close()
    s.db.dispose()
