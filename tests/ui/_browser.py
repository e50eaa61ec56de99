"""Small helpers the browser tests share: logging in, screenshots, waits."""

from __future__ import annotations

from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from .conftest import artifacts_dir


def shot(driver, name: str) -> None:
    """Save a screenshot of the current page as a test artifact (`<name>.png`)."""
    path = artifacts_dir() / f"{name}.png"
    size = driver.get_window_size()
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(size["width"], min(max(height + 150, size["height"]), 4000))  # whole page
    try:
        assert driver.save_screenshot(str(path)), f"screenshot {name} failed"
    finally:
        driver.set_window_size(size["width"], size["height"])
    assert path.stat().st_size > 1000


def wait_for(driver, css: str, timeout: float = 30):
    """The element matching `css` once it is visible."""
    return WebDriverWait(driver, timeout).until(EC.visibility_of_element_located((By.CSS_SELECTOR, css)))


def login(driver, base: str, key: str, next_path: str = "/") -> None:
    """Log in through the login page with `key`."""
    driver.get(f"{base}/login?next={next_path}")
    driver.find_element(By.ID, "api-key").send_keys(key)
    click_and_load(driver, driver.find_element(By.ID, "login"))


def no_script_ran(driver) -> None:
    """Nothing but our own ui.js is on the page, and no injected script ever ran."""
    assert driver.execute_script("return typeof window.__pwned") == "undefined"
    sources = driver.execute_script("return Array.from(document.scripts).map(s => s.src)")
    assert len(sources) == 1 and sources[0].endswith("/static/ui.js"), sources
    handlers = driver.execute_script(
        "return Array.from(document.querySelectorAll('*')).flatMap(e => Array.from(e.attributes)"
        ".filter(a => a.name.startsWith('on')).map(a => e.tagName + ' ' + a.name))"
    )
    assert handlers == []


def click_and_load(driver, element, timeout: float = 30) -> None:
    """Click something that loads a new page, and wait until the new document is there
    (a mark left on the old one is gone; errors while the page changes are retried)."""
    driver.execute_script("window.__testPage = 'old'")
    element.click()
    WebDriverWait(driver, timeout, ignored_exceptions=(WebDriverException,)).until(
        lambda d: d.execute_script("return document.readyState === 'complete' && window.__testPage === undefined")
    )
