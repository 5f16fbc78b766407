"""The MLflow UI in a real browser (Playwright driving Debian's Chromium, headless) on a small
real store: what a person sees. Screenshots go to reports/screenshots/."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from bnstudy.paths import CODE_ROOT
from bnstudy.tracking import ROLE_TAG
from tests.services.conftest import (
    CONDITIONS,
    EXPERIMENT,
    GROUP_TAG,
    child_runs,
    run_sweep,
    running_server,
    server_settings,
)

pytestmark = pytest.mark.services

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = CODE_ROOT / "reports" / "screenshots"
SEEDS = (0, 1, 2)
EPOCHS = 5
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def store(service_dir, workdir) -> Iterator[dict]:
    """A server of its own whose store holds one tiny sweep: 3 conditions x 3 seeds, 5 epochs."""
    with running_server(server_settings(service_dir, "ui-server")) as s:
        uri = s.tracking_uri
        res = run_sweep(uri, workdir=workdir, seeds=SEEDS, epochs=EPOCHS)
        assert res.returncode == 0, res.stderr[-3000:]
        client = MlflowClient(uri)
        exp = client.get_experiment_by_name(EXPERIMENT)
        runs = [r for r in child_runs(uri) if r.info.status == "FINISHED"]
        assert len(runs) == len(CONDITIONS) * len(SEEDS)
        parents = client.search_runs([exp.experiment_id], f"tags.`{ROLE_TAG}` = 'parent'")
        yield {
            "uri": uri,
            "experiment_id": exp.experiment_id,
            "runs": runs,
            "parents": [p.info.run_name for p in parents],
            "client": client,
        }


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: make test-services installs Debian's chromium")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, store):
    """A fresh browser (no saved UI state) on the experiment list, set up as a person would:
    the "Model training" view of runs, and the "MLflow Assistant" side panel closed."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{store['uri']}/#/experiments")
    expect(page.get_by_role("link", name=EXPERIMENT, exact=True)).to_be_visible(timeout=TIMEOUT_MS)
    page.get_by_role("button", name="Model training", exact=True).click()
    # the panel opens by itself on a first visit, and stays closed once closed
    with contextlib.suppress(PlaywrightTimeout):
        page.get_by_role("button", name="Close", exact=True).click(timeout=15_000)
    yield page
    context.close()


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(1000)  # let charts and fonts settle
    page.screenshot(path=str(SHOTS / name))


def _open_runs(page, store) -> None:
    """The experiment's runs table, in the "Model training" view."""
    from playwright.sync_api import expect

    page.goto(f"{store['uri']}/#/experiments/{store['experiment_id']}/runs")
    total = len(store["runs"]) + len(store["parents"])
    expect(page.get_by_text(f"{total} matching runs")).to_be_visible(timeout=TIMEOUT_MS)


def _expand_parents(page, store) -> None:
    """Open every parent run's row, showing its per-seed runs."""
    for name in store["parents"]:
        row_name = page.get_by_role("gridcell").filter(
            has=page.get_by_role("link", name=name, exact=True)
        )
        row_name.get_by_role("button").click()


def _plot_traces(card) -> list[dict]:
    """The traces Plotly draws in a chart card: [{x, y, name}]."""
    return card.locator(".js-plotly-plot").first.evaluate(
        "d => (d.data || []).map(t => ({x: t.x, y: t.y, name: t.name}))"
    )


def _chart_card(page, metric: str):
    """The innermost element holding both the chart title ``metric`` and a plot."""
    return (
        page.locator("div")
        .filter(has=page.get_by_text(metric, exact=True))
        .filter(has=page.locator(".js-plotly-plot"))
        .last
    )


def test_the_experiment_is_in_the_experiment_list(page, store):
    from playwright.sync_api import expect

    link = page.get_by_role("link", name=EXPERIMENT, exact=True)
    expect(link).to_be_visible()
    _shot(page, "experiments.png")
    link.click()
    total = len(store["runs"]) + len(store["parents"])
    expect(page.get_by_text(f"{total} matching runs")).to_be_visible(timeout=TIMEOUT_MS)


def test_runs_have_readable_names(page, store):
    from playwright.sync_api import expect

    _open_runs(page, store)
    _expand_parents(page, store)
    for run in store["runs"]:
        name = run.info.run_name
        # readable: says which condition and seed it is (not MLflow's random names)
        assert run.data.tags[GROUP_TAG] in name and run.data.tags["seed"] in name, name
        expect(page.get_by_role("link", name=name, exact=True)).to_be_visible()
    _shot(page, "runs.png")


def test_a_run_shows_its_per_epoch_val_accuracy_chart(page, store):
    from playwright.sync_api import expect

    run = sorted(store["runs"], key=lambda r: r.info.run_name)[0]
    name = run.info.run_name
    _open_runs(page, store)
    _expand_parents(page, store)
    page.get_by_role("link", name=name, exact=True).click()
    expect(page.get_by_role("heading", name=name)).to_be_visible(timeout=TIMEOUT_MS)
    page.get_by_role("tab", name="Model metrics").click()
    expect(page.get_by_text(f"{name} (val_accuracy)")).to_be_visible(timeout=TIMEOUT_MS)
    card = _chart_card(page, "val_accuracy")
    page.wait_for_function(
        "d => d.data && d.data.length > 0",
        arg=card.locator(".js-plotly-plot").first.element_handle(),
    )
    history = sorted(
        store["client"].get_metric_history(run.info.run_id, "val_accuracy"), key=lambda m: m.step
    )
    trace = _plot_traces(card)[0]
    assert trace["x"] == list(range(1, EPOCHS + 1))
    assert trace["y"] == pytest.approx([m.value for m in history], abs=1e-9)
    _shot(page, "run_val_accuracy.png")


def test_runs_grouped_by_condition(page, store):
    from playwright.sync_api import expect

    _open_runs(page, store)
    page.get_by_role("button", name="Group by").click()
    menu = page.get_by_role("menu")
    menu.get_by_role("textbox").fill(GROUP_TAG)
    # The menu lists tags, then params; a param may share the tag's name: take the tag.
    tag_item = menu.locator(
        f"xpath=.//*[normalize-space()='Tags']/following::*[@role='menuitemcheckbox']"
        f"[normalize-space()='{GROUP_TAG}'][1]"
    )
    tag_item.click()
    expect(page.get_by_role("button", name=f"Group by: {GROUP_TAG}")).to_be_visible()
    # reopen the menu: the tag, and only the tag, is checked
    page.get_by_role("button", name=f"Group by: {GROUP_TAG}").click()
    page.get_by_role("menu").get_by_role("textbox").fill(GROUP_TAG)
    expect(tag_item).to_have_attribute("aria-checked", "true")
    page.keyboard.press("Escape")

    per_group = len(SEEDS)  # the seeds' runs; parent runs carry no condition tag
    for condition in CONDITIONS:
        group = page.get_by_role("row").filter(has_text=f"Group: {condition}")
        expect(group).to_be_visible()
        expect(group).to_contain_text(str(per_group))
    for run in store["runs"]:
        expect(page.get_by_role("link", name=run.info.run_name, exact=True)).to_be_visible()
    _shot(page, "runs_grouped.png")

    # the chart view: one line (mean) and band (min-max) per condition
    page.locator("label").filter(has=page.locator("input[value=CHART]")).click()
    card = _chart_card(page, "val_accuracy")
    expect(card).to_be_visible(timeout=TIMEOUT_MS)
    page.wait_for_function(
        "d => d.data && d.data.length >= 3",
        arg=card.locator(".js-plotly-plot").first.element_handle(),
    )
    _shot(page, "charts_grouped.png")
