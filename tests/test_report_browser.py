"""The HTML report in a real browser (headless Chromium): it renders, images load, no console error.

Uses the leaderboard browser test's fixture (skipped without Chromium unless
GOSS_REQUIRE_BROWSER=1).
"""

from __future__ import annotations

import pytest

pytest.importorskip("matplotlib")

from test_report import make_report_inputs  # noqa: E402
from test_server_browser import browser  # noqa: E402, F401

from goss_bench.cli import main  # noqa: E402

pytestmark = pytest.mark.browser


def test_report_renders_in_chromium(tmp_path, browser):  # noqa: F811
    from selenium.webdriver.common.by import By

    pred, gt = make_report_inputs(tmp_path)
    out = tmp_path / "out"
    assert main(["report", str(pred), str(gt), "--out", str(out), "--bootstrap", "50",
                 "--worst", "2", "--quiet"]) == 0
    browser.get((out / "index.html").as_uri())
    assert browser.title.startswith("goss-bench report")
    assert browser.find_element(By.TAG_NAME, "h1").text == "goss-bench report"
    assert len(browser.find_elements(By.CSS_SELECTOR, "#scores tbody tr")) >= 8
    assert len(browser.find_elements(By.CSS_SELECTOR, "#oracles tbody tr")) == 4
    imgs = browser.find_elements(By.TAG_NAME, "img")
    assert len(imgs) == 5
    for img in imgs:
        assert browser.execute_script(
            "return arguments[0].complete && arguments[0].naturalWidth", img
        ) > 100
    errors = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
    assert errors == []
    shot = tmp_path / "report.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 5000
