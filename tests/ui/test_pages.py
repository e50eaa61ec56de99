"""Every page of the UI in headless Chromium, against the store the tests made, with a
screenshot of each; the click path from the projects to a file preview; a diff."""

from __future__ import annotations

from urllib.parse import quote

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from . import _store
from ._browser import click_and_load, login, no_script_ran, shot, wait_for

P = f"/p/{_store.ENTITY}/{_store.PROJECT}"


def test_every_page_renders(browser, keyed, store_root):
    login(browser, keyed.url, "reader-key")
    consumer = store_root["consumer"]
    pages = [
        ("projects", "/", "#projects", ["acme", "vision", "other"]),
        ("project", P, "#types", ["dataset", "model", "eval-results", "train-model"]),
        ("collections", f"{P}/t/dataset", "#collections", ["digits", "best: v0", "candidate: v1", "hostile"]),
        ("versions", f"{P}/c/digits", "#versions", ["v0", "v1", "best", "candidate", "baseline"]),
        ("versions-page-3", f"{P}/c/metrics?page=3", "#versions", ["page 3 of 3", "v19", "v0"]),
        ("version", f"{P}/c/digits/v0", "#facts", ["digits:v0", "best", "baseline", "A small set.",
                                                   "rows", "use_artifact", "prepare-digits", "train-model"]),
        ("file-text", f"{P}/c/digits/v0/file?path=train/labels.csv", "#preview", ["id,label", "0,7"]),
        ("file-json", f"{P}/c/digits/v0/file?path=train/data.json", "#preview", ['"source": "synthetic"']),
        ("file-image", f"{P}/c/digits/v0/file?path=media/images/red.png", "#preview-image", []),
        ("file-table", f"{P}/c/digits/v0/file?path=digits.table.json", "#table-preview", ["label-0", "label-1"]),
        ("diff", f"{P}/diff/digits?a=v0&b=v1", "#diff-files", ["new.txt", "old.txt", "train/labels.csv"]),
        ("run", f"{P}/run/{consumer}", "#run-used", ["digits:v0", "classifier:v0"]),
        ("registry-version", f"/p/{_store.ENTITY}/model-registry/c/Digits/v0", "#facts", ["staging", "classifier:v0"]),
        ("classifier", f"{P}/c/classifier/v0", "#registry", ["Digits:v0", "staging"]),
    ]
    for name, path, marker, texts in pages:
        browser.get(keyed.url + path)
        wait_for(browser, marker)
        body = browser.find_element(By.TAG_NAME, "body").text
        for text in texts:
            assert text in body, f"{name}: {text!r} missing from {path}"
        no_script_ran(browser)
        shot(browser, name)
    # Images of the preview and of the Table's cells really load (served from the version).
    browser.get(keyed.url + f"{P}/c/digits/v0/file?path=digits.table.json")
    cells = browser.find_elements(By.CSS_SELECTOR, "img.cell-image")
    assert len(cells) == 2
    assert all(browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", c) == 16
               for c in cells)


def test_login_page_screenshot(browser, keyed):
    browser.get(keyed.url + "/")
    wait_for(browser, "#login-form")
    assert "/login?next=" in browser.current_url
    shot(browser, "login")


def test_click_through_projects_to_a_file_preview(browser, keyed):
    login(browser, keyed.url, "reader-key")
    browser.get(keyed.url + "/")
    click_and_load(browser, browser.find_element(By.LINK_TEXT, "vision"))
    click_and_load(browser, browser.find_element(By.LINK_TEXT, "dataset"))
    click_and_load(browser, browser.find_element(By.LINK_TEXT, "digits"))
    click_and_load(browser, browser.find_element(By.LINK_TEXT, "v0"))
    wait_for(browser, "#tree")
    copy = browser.find_element(By.CSS_SELECTOR, "button.copy")
    copy.click()  # the clipboard, or (where the browser refuses it) the snippet selected
    WebDriverWait(browser, 10).until(lambda d: copy.text != "Copy")
    assert copy.text in ("Copied", "Selected: press Ctrl+C")
    if copy.text.startswith("Selected"):
        assert "use_artifact" in browser.execute_script("return window.getSelection().toString()")
    # Subdirectories are fetched only when opened.
    train = browser.find_element(By.XPATH, "//details[summary/span[@class='name'][text()='train/']]")
    assert "labels.csv" not in train.get_attribute("innerHTML")
    train.find_element(By.TAG_NAME, "summary").click()
    link = wait_for(browser, "a[data-path='train/labels.csv']")
    shot(browser, "version-tree-open")
    click_and_load(browser, link)
    pre = wait_for(browser, "#preview pre")
    assert pre.text.startswith("id,label")
    assert browser.current_url.endswith("/c/digits/v0/file?path=" + quote("train/labels.csv", safe=""))
    no_script_ran(browser)


def test_diff_of_two_versions_from_the_collection_page(browser, keyed):
    login(browser, keyed.url, "reader-key")
    browser.get(keyed.url + f"{P}/c/digits")
    form = browser.find_element(By.ID, "compare-form")
    form.find_element(By.NAME, "a").send_keys("best")
    form.find_element(By.NAME, "b").send_keys("candidate")
    click_and_load(browser, form.find_element(By.TAG_NAME, "button"))
    counts = wait_for(browser, "#diff-counts").text
    assert "a=v0&b=v1" in browser.current_url  # aliases redirect to the stable version URL
    assert "1 added" in counts and "1 removed" in counts and "1 changed" in counts
    rows = {r.find_elements(By.TAG_NAME, "td")[1].text: r.find_elements(By.TAG_NAME, "td")[0].text
            for r in browser.find_elements(By.CSS_SELECTOR, "#diff-files tbody tr")}
    assert rows == {"new.txt": "added", "old.txt": "removed", "train/labels.csv": "changed"}
    meta = {r.find_elements(By.TAG_NAME, "td")[0].text: r.find_elements(By.TAG_NAME, "td")[1].text
            for r in browser.find_elements(By.CSS_SELECTOR, "#diff-metadata tbody tr")}
    assert meta == {"rows": "changed", "split": "removed", "version": "added"}
    shot(browser, "diff-from-form")
    # From a version page: "compare with" this version.
    browser.get(keyed.url + f"{P}/c/digits/v1")
    browser.find_element(By.CSS_SELECTOR, "#version-compare input[name=a]").send_keys("v0")
    click_and_load(browser, browser.find_element(By.CSS_SELECTOR, "#version-compare button"))
    assert "1 added" in wait_for(browser, "#diff-counts").text
    assert browser.current_url.endswith("/diff/digits?a=v0&b=v1")


def test_large_directory_pages_in_the_tree(browser, keyed, tmp_path):
    """A directory of 450 files lists 200 at a time; "more" fetches the next page."""
    from artefact import _core

    store = keyed.store
    blob = tmp_path / "one.txt"
    blob.write_text("same bytes\n")
    manifest = _core.Manifest()
    manifest.insert("seed.txt", _md5_b64(blob), None, None, blob.stat().st_size, "{}", str(blob), False)
    for i in range(450):
        manifest.insert(f"flat/f{i:04d}.txt", _md5_b64(blob), None, None, blob.stat().st_size, "{}", str(blob), False)
    record = store.log_version(_store.ENTITY, _store.PROJECT, "wide", "dataset", manifest)
    login(browser, keyed.url, "reader-key")
    browser.get(keyed.url + f"{P}/c/wide/{record.version}")
    flat = browser.find_element(By.XPATH, "//details[summary/span[@class='name'][text()='flat/']]")
    assert "450 files" in flat.text
    flat.find_element(By.TAG_NAME, "summary").click()
    wait_for(browser, "a[data-path='flat/f0199.txt']")
    assert not browser.find_elements(By.CSS_SELECTOR, "a[data-path='flat/f0200.txt']")
    flat.find_element(By.CSS_SELECTOR, "li.more button").click()
    wait_for(browser, "a[data-path='flat/f0399.txt']")
    flat.find_element(By.CSS_SELECTOR, "li.more button").click()
    wait_for(browser, "a[data-path='flat/f0449.txt']")
    assert len(flat.find_elements(By.CSS_SELECTOR, "li.file")) == 450
    assert not flat.find_elements(By.CSS_SELECTOR, "li.more")


def _md5_b64(path) -> str:
    import base64
    import hashlib

    return base64.b64encode(hashlib.md5(path.read_bytes()).digest()).decode()
