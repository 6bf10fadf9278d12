"""The web page in a real browser: headless Chromium (Debian's) driven by Selenium, against a
real ``makespan serve`` on loopback.

Chromium is a system package, not a Python one: ``.ci/run`` installs it, so under CI a missing
browser fails these tests; elsewhere they skip and say how to install it.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import Service
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service as DriverService
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from makespan.models.jssp.benchmarks import load_named

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
# Without the networking switches Chromium keeps calling Google's hosts, which this machine's
# closed network refuses many times a second.
CHROMIUM_SWITCHES = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1500",
)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    """Headless Chromium with a fresh profile."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        message = "Chromium is not installed: apt-get install chromium chromium-driver"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (.ci/run installs it)")
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for switch in CHROMIUM_SWITCHES:
        options.add_argument(switch)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    driver = webdriver.Chrome(service=DriverService(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture
def page(
    browser: WebDriver, start_service: Callable[..., Service]
) -> Callable[..., tuple[WebDriver, Service]]:
    """Open the page of a fresh server (settings as ``MAKESPAN_*`` keyword arguments)."""

    def open_page(wait: bool = True, **settings: str) -> tuple[WebDriver, Service]:
        service = start_service(workers="2", **settings)
        browser.get(service.url + "/")
        if wait:
            _until(browser, lambda: _options(browser, "problem"), "the problem list")
        return browser, service

    return open_page


def _until(
    driver: WebDriver, condition: Callable[[], object], what: str, timeout: float = 60
) -> None:
    try:
        WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda _: condition())
    except TimeoutException:
        errors = driver.find_element(By.ID, "error").text
        raise AssertionError(f"waited {timeout} s for {what}; page error: {errors!r}") from None


def _options(driver: WebDriver, select_id: str) -> list[str]:
    select = Select(driver.find_element(By.ID, select_id))
    return [option.get_attribute("value") or "" for option in select.options]


def _text(driver: WebDriver, element_id: str) -> str:
    return str(driver.find_element(By.ID, element_id).text)


def _plot_loaded(driver: WebDriver) -> bool:
    return bool(
        driver.execute_script(
            "const i = document.getElementById('plot');"
            "return i !== null && i.complete && i.naturalWidth > 0;"
        )
    )


def _set_time_limit(driver: WebDriver, seconds: float) -> None:
    field = driver.find_element(By.ID, "time-limit")
    field.clear()
    field.send_keys(str(seconds))


def _open(page: Callable[..., tuple[WebDriver, Service]], problem: str) -> WebDriver:
    """A new page with ``problem`` chosen and its first example loaded (so that it cannot
    arrive after, and replace, what the test types)."""
    driver, _ = page()
    Select(driver.find_element(By.ID, "problem")).select_by_value(problem)
    text_box = driver.find_element(By.ID, "instance-text")
    _until(driver, lambda: text_box.get_attribute("value"), f"the first {problem} example")
    return driver


def _submit_ft06(driver: WebDriver) -> None:
    """Pick the ft06 example and solve it, 20 s at most."""
    Select(driver.find_element(By.ID, "problem")).select_by_value("jssp")
    Select(driver.find_element(By.ID, "example")).select_by_value("ft06")
    _until(
        driver,
        lambda: "Fisher" in str(driver.find_element(By.ID, "instance-text").get_attribute("value")),
        "the ft06 example text",
    )
    _set_time_limit(driver, 20)
    driver.find_element(By.ID, "submit").click()


def test_ft06_reaches_55_with_chart_and_picture(
    page: Callable[..., tuple[WebDriver, Service]], artifacts: Path
) -> None:
    driver, _ = page()
    assert set(_options(driver, "problem")) == {
        "jssp",
        "rcpsp",
        "memory_mapping",
        "expert_placement",
        "gpu_packing",
    }
    _submit_ft06(driver)

    _until(driver, lambda: _text(driver, "status") == "done", "the job to finish")
    assert _text(driver, "objective") == "55"
    assert _text(driver, "bound") == "55"
    assert _text(driver, "gap") == "0.00%"
    assert "optimal" in _text(driver, "message")
    chart = driver.find_element(By.ID, "convergence")
    assert int(chart.get_attribute("data-points") or 0) >= 1
    objective_line = driver.find_element(By.ID, "objective-line")
    assert objective_line.get_attribute("d"), "the convergence chart drew no objective line"
    assert driver.find_elements(By.CSS_SELECTOR, "#convergence circle.objective")
    _until(driver, lambda: _plot_loaded(driver), "the solution picture")
    assert not driver.find_element(By.ID, "cancel").is_enabled()
    rows = driver.find_elements(By.CSS_SELECTOR, "#recent tbody tr")
    assert rows and "done" in rows[0].text
    driver.save_screenshot(str(artifacts / "web-ft06.png"))


def test_cancel_keeps_the_incumbent_and_draws_it(
    page: Callable[..., tuple[WebDriver, Service]], artifacts: Path
) -> None:
    driver, _ = page()
    instance = load_named("ta41")
    assert instance is not None
    Select(driver.find_element(By.ID, "problem")).select_by_value("jssp")
    text_box = driver.find_element(By.ID, "instance-text")
    text_box.clear()
    # A 30x20 instance is long to type key by key: set it as the page's own upload would.
    driver.execute_script(
        "arguments[0].value = arguments[1];", text_box, instance.model_dump_json()
    )
    Select(driver.find_element(By.ID, "format")).select_by_value("json")
    _set_time_limit(driver, 120)
    driver.find_element(By.ID, "submit").click()

    _until(driver, lambda: _text(driver, "objective") not in ("—", ""), "a first incumbent")
    cancel = driver.find_element(By.ID, "cancel")
    assert cancel.is_enabled()
    cancel.click()
    started = time.monotonic()
    _until(driver, lambda: _text(driver, "status") == "cancelled", "the cancel")
    assert time.monotonic() - started < 30
    assert int(_text(driver, "objective").replace(",", "")) >= 2000  # ta41's optimum is 2006
    _until(driver, lambda: _plot_loaded(driver), "the picture of the incumbent")
    driver.save_screenshot(str(artifacts / "web-cancelled.png"))


def test_uploaded_file_solves_and_reopens_from_the_recent_list(
    page: Callable[..., tuple[WebDriver, Service]], data: Path
) -> None:
    driver = _open(page, "jssp")
    driver.find_element(By.ID, "file").send_keys(str(data / "la01.txt"))
    _until(
        driver,
        lambda: "la01" in str(driver.find_element(By.ID, "instance-text").get_attribute("value")),
        "the uploaded text",
    )
    assert Select(driver.find_element(By.ID, "format")).first_selected_option.text == "auto"
    driver.find_element(By.ID, "submit").click()
    _until(driver, lambda: _text(driver, "status") == "done", "the job to finish")
    assert _text(driver, "objective") == "666"
    job_id = _text(driver, "job-id")

    driver.refresh()  # a new visit: the job is found again in the recent list
    _until(driver, lambda: driver.find_elements(By.CSS_SELECTOR, "#recent tbody tr"), "the list")
    driver.find_element(By.CSS_SELECTOR, f"#recent tbody tr[data-id='{job_id}']").click()
    _until(driver, lambda: _text(driver, "job-id") == job_id, "the job to open")
    _until(driver, lambda: _text(driver, "objective") == "666", "its result")
    _until(driver, lambda: _plot_loaded(driver), "its picture")


def test_api_docs_render_offline(page: Callable[..., tuple[WebDriver, Service]]) -> None:
    driver, service = page()
    driver.get(service.url + "/docs")
    _until(
        driver,
        lambda: len(driver.find_elements(By.CSS_SELECTOR, ".opblock")) >= 8,
        "Swagger UI to list the routes",
    )
    assert "/v1/jobs/{job_id}/plot.{fmt}" in driver.page_source


def test_bad_instance_text_shows_the_line_at_fault(
    page: Callable[..., tuple[WebDriver, Service]],
) -> None:
    driver = _open(page, "jssp")
    text_box = driver.find_element(By.ID, "instance-text")
    text_box.clear()
    text_box.send_keys("2 2\n0 3 1 x\n1 2 0 4\n")
    Select(driver.find_element(By.ID, "format")).select_by_value("taillard")
    driver.find_element(By.ID, "submit").click()
    _until(driver, lambda: driver.find_element(By.ID, "error").is_displayed(), "the error")
    error = _text(driver, "error")
    assert "line" in error and "instance_text" in error, error
    assert driver.find_element(By.ID, "submit").is_enabled()
    assert _text(driver, "job-id") == "—"


def test_api_key_is_asked_for_and_used(page: Callable[..., tuple[WebDriver, Service]]) -> None:
    driver, _ = page(api_key="s3cret", wait=False)
    key_field = driver.find_element(By.ID, "api-key")
    _until(driver, key_field.is_displayed, "the API key field after a 401")
    assert _options(driver, "problem") == []
    key_field.send_keys("s3cret\t")  # the change event stores the key and reloads the lists
    _until(driver, lambda: "ft06" in _options(driver, "example"), "the examples, with the key")
    driver.execute_script("localStorage.removeItem('makespan.apiKey');")


def test_a_finished_job_resolves_near_itself_and_checks_an_edited_solution(
    page: Callable[..., tuple[WebDriver, Service]], artifacts: Path
) -> None:
    driver, _ = page()
    _submit_ft06(driver)
    _until(driver, lambda: _text(driver, "status") == "done", "the first job")
    first = _text(driver, "job-id")

    driver.find_element(By.CSS_SELECTOR, "#replan summary").click()
    weight = driver.find_element(By.ID, "stability-weight")
    weight.clear()
    weight.send_keys("1000")
    driver.find_element(By.ID, "fix-before").send_keys("10")
    driver.find_element(By.ID, "resolve").click()
    _until(driver, lambda: _text(driver, "job-id") != first, "the re-solve job")
    _until(driver, lambda: _text(driver, "status") == "done", "the re-solve to finish")
    assert _text(driver, "objective") == "55"
    assert "deviation 0" in _text(driver, "message")

    driver.find_element(By.CSS_SELECTOR, "#check-panel summary").click()
    box = driver.find_element(By.ID, "check-solution")
    solution = driver.execute_script("return JSON.parse(arguments[0].value);", box)
    solution["operations"][0]["start"] += 1
    driver.execute_script("arguments[0].value = JSON.stringify(arguments[1]);", box, solution)
    driver.find_element(By.ID, "check").click()
    _until(driver, lambda: "Infeasible" in _text(driver, "check-result"), "the verdict")
    assert "(0, 0)" in _text(driver, "check-result")
    driver.save_screenshot(str(artifacts / "web-resolve-check.png"))


def test_an_infeasible_job_shows_its_conflict(
    page: Callable[..., tuple[WebDriver, Service]], data: Path
) -> None:
    driver = _open(page, "rcpsp")
    instance = json.loads((data / "rcpsp_features.json").read_text())
    instance["activities"][4]["deadline"] = 9  # activity 5 cannot end by 9
    document = json.dumps(instance)
    text_box = driver.find_element(By.ID, "instance-text")
    # Typed, as far as the page knows: an example still on its way must not replace it.
    driver.execute_script(
        "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input'));",
        text_box,
        document,
    )
    Select(driver.find_element(By.ID, "format")).select_by_value("json")
    driver.find_element(By.ID, "submit").click()
    _until(driver, lambda: _text(driver, "status") == "done", "the job to finish")
    # The status and the result arrive as two events: the message may follow the status.
    _until(driver, lambda: "infeasible" in _text(driver, "message"), "the infeasibility")
    _until(
        driver, lambda: driver.find_element(By.ID, "conflict-box").is_displayed(), "the conflict"
    )
    items = driver.find_elements(By.CSS_SELECTOR, "#conflict li")
    assert any("deadline 9" in item.text for item in items), [item.text for item in items]
