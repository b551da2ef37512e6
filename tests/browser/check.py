"""Drives headless Chromium through the console and the public sub-processor page; fails loudly when either breaks.

Usage: check.py BASE_URL CLIENT_ADMIN_TOKEN ARTEFACTS_DIR (run by check.sh, which starts a demo server).
"""
import json
import sys
import urllib.parse

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait
from selenium.common.exceptions import StaleElementReferenceException

BASE, TOKEN, OUT = sys.argv[1], sys.argv[2], sys.argv[3]
QUERY = "{ dataSubjects(first: 3) { totalCount edges { node { externalId personalData { category value } } } } }"


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,900"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def requested_hosts(driver):
    """Every host the page asked for, from the DevTools performance log."""
    hosts = set()
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            url = message["params"]["request"]["url"]
            if url.startswith("http"):
                hosts.add(urllib.parse.urlsplit(url).netloc)
    return hosts


def console(driver):
    fragment = urllib.parse.urlencode({"token": TOKEN, "query": QUERY})
    driver.get(f"{BASE}/graphql#{fragment}")
    wait = WebDriverWait(driver, 30)
    run = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, ".graphiql-execute-button")))
    assert "#" not in driver.current_url, "the token is taken out of the address bar"
    run.click()
    # The response pane shows the demo tenant's subjects, decrypted.
    wait.until(lambda d: "totalCount" in d.find_element(By.CSS_SELECTOR, ".result-window").text)
    result = driver.find_element(By.CSS_SELECTOR, ".result-window").text
    assert "externalId" in result and "user.contact.email" in result, result
    # A decrypted value of the demo dataset, not only field names.
    assert "ada.lovelace@example.com" in result, result
    assert "errors" not in result, result
    driver.save_screenshot(f"{OUT}/console.png")
    docs_explorer(driver, wait)
    hosts = requested_hosts(driver)
    foreign = {h for h in hosts if h != urllib.parse.urlsplit(BASE).netloc}
    assert not foreign, f"the console contacted other hosts: {foreign}"
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, f"console errors: {errors}"
    print(f"[browser] console ok: query ran with the demo token, data on screen, only {hosts} contacted")


def docs_explorer(driver, wait):
    """The Docs explorer loaded the schema (introspection passed the limits): search it and open DataSubject."""
    button = wait.until(ec.element_to_be_clickable(
        (By.CSS_SELECTOR, '.graphiql-sidebar button[aria-label="Show Documentation Explorer"]')))
    button.click()
    explorer = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".graphiql-doc-explorer")))
    wait.until(lambda d: "Query" in explorer.text and "Mutation" in explorer.text)
    search = explorer.find_element(By.CSS_SELECTOR, ".graphiql-doc-explorer-search-input input")
    search.click()
    search.send_keys("DataSubject")
    def data_subject_option(d):
        # The list re-renders while the search runs: an element may go stale under us; the wait tries again.
        for o in d.find_elements(By.CSS_SELECTOR, ".graphiql-doc-explorer-search [role=option], "
                                                  ".graphiql-doc-explorer-search li"):
            text = o.text.strip()
            if text.split()[0:1] == ["DataSubject"]:
                return o
        return None

    settled = WebDriverWait(driver, 30, ignored_exceptions=[StaleElementReferenceException])
    settled.until(data_subject_option).click()
    settled.until(lambda d: d.find_element(By.CSS_SELECTOR, ".graphiql-doc-explorer-title").text.strip() == "DataSubject")
    fields = driver.find_element(By.CSS_SELECTOR, ".graphiql-doc-explorer").text
    for field in ("externalId", "birthDate", "personalData"):
        assert field in fields, fields
    driver.save_screenshot(f"{OUT}/docs-explorer.png")
    print("[browser] Docs explorer ok: the schema loaded, DataSubject found by search, its fields listed")


def pasted_token(driver):
    """Without a token in the link, pasting one into the Headers tab loads the schema: no re-fetch click needed."""
    driver.get(f"{BASE}/graphql")
    wait = WebDriverWait(driver, 30)
    wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, ".graphiql-execute-button")))
    headers = json.dumps({"Authorization": f"Bearer {TOKEN}"})
    pasted = driver.execute_script(
        """
        for (const el of document.querySelectorAll('.CodeMirror')) {
          if (el.CodeMirror && el.CodeMirror.getValue().includes('"Authorization": "Bearer <token>"')) {
            el.CodeMirror.setValue(arguments[0]);
            return true;
          }
        }
        return false;
        """,
        headers,
    )
    assert pasted, "the Headers editor with the <token> placeholder was not found"
    driver.find_element(
        By.CSS_SELECTOR, '.graphiql-sidebar button[aria-label="Show Documentation Explorer"]').click()
    explorer = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".graphiql-doc-explorer")))
    try:
        wait.until(lambda d: "Query" in explorer.text and "Mutation" in explorer.text)
    finally:
        driver.save_screenshot(f"{OUT}/pasted-token.png")
    print("[browser] pasted token ok: the schema loaded after the token was pasted into the Headers tab")


def subprocessors(driver):
    driver.get(f"{BASE}/subprocessors")
    wait = WebDriverWait(driver, 30)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "table")))
    driver.save_screenshot(f"{OUT}/subprocessors.png")
    rows = driver.find_elements(By.CSS_SELECTOR, "table tbody tr")
    assert len(rows) >= 2, "the demo's two sub-processors are listed"
    assert "Hetzner Online" in driver.page_source
    headers = [th.text.lower() for th in driver.find_elements(By.CSS_SELECTOR, "table th")]
    assert any("sub-processor" in h for h in headers), headers
    print(f"[browser] sub-processor page ok: {len(rows)} rows, columns {headers}")


def main():
    driver = browser()
    try:
        console(driver)
        pasted_token(driver)
        subprocessors(driver)
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
