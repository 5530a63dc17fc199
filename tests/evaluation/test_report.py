"""The offline analysis report: built from a real evaluation (stewards' labels re-decided under
a policy that makes a false match), its sweep and a shadow run, opened in Debian's chromium with
every network request refused; each chart must render with a size, and nothing is fetched."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Route
from sqlalchemy.orm import Session, sessionmaker

from identity.db import transaction
from identity.evaluation.report import analysis_report, shadow_report_html
from identity.evaluation.reviewed_labels import evaluate_reviewed, reviewed_labels
from identity.evaluation.shadow import shadow
from identity.evaluation.sweep import sweep
from identity.matching.policy import find_policy
from tests.conftest import RULES_DIR, TENANT
from tests.evaluation.shadow_fixtures import LOOSE, STRICT, Stored, settled, stored

__all__ = ["settled", "stored"]

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def report_file(
    sessions: sessionmaker[Session], settled: dict[str, Stored], tmp_path: Path
) -> Path:
    with transaction(sessions) as session:
        labels = reviewed_labels(session, TENANT)
        shadowed = shadow(session, TENANT, find_policy(RULES_DIR, "default"), STRICT)
    evaluation = evaluate_reviewed(LOOSE, labels, tenant=TENANT)
    html = analysis_report(
        evaluation=evaluation, swept=sweep(evaluation), shadow=shadowed, base_url="https://id.test"
    )
    path = tmp_path / "report.html"
    path.write_text(html, encoding="utf-8")
    return path


def _charts(browser: Browser, path: Path) -> tuple[list[dict[str, float]], list[str], str]:
    """(each chart's box and mark count, the requests refused, the page's text)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, offline=True)
    refused: list[str] = []

    def refuse(route: Route) -> None:
        refused.append(route.request.url)
        route.abort()

    context.route("http://**/*", refuse)
    context.route("https://**/*", refuse)
    page = context.new_page()
    try:
        page.goto(path.as_uri())
        charts = page.eval_on_selector_all(
            "svg.chart",
            """els => els.map(e => {
                const box = e.getBoundingClientRect();
                return {width: box.width, height: box.height,
                        marks: e.querySelectorAll('rect, polyline, circle').length};
            })""",
        )
        text = page.inner_text("body")
    finally:
        context.close()
    return charts, refused, text


@SQLITE
def test_the_report_opens_offline_and_its_charts_render(
    browser: Browser, report_file: Path, settled: dict[str, Stored]
) -> None:
    charts, refused, text = _charts(browser, report_file)
    assert refused == []  # nothing but the file itself
    # Thresholds (curves, grid), weights of pairs, model weights and m/u, the false match's
    # waterfall (and the person's), candidates per request, shadow flips.
    assert len(charts) >= 8
    for chart in charts:
        assert chart["width"] > 100
        assert chart["height"] > 50
        assert chart["marks"] > 0
    assert "False matches (1)" in text
    assert settled["trish"].match_id in text  # the false match, by its decision
    assert "steward:new_person" in text
    assert "match → review" in text  # the shadow run's flips
    html = report_file.read_text()
    assert "<script" not in html
    assert f"https://id.test/v1/matches/{settled['mara'].match_id}" in html


@SQLITE
def test_the_shadow_report_alone(
    browser: Browser, sessions: sessionmaker[Session], stored: dict[str, Stored], tmp_path: Path
) -> None:
    with transaction(sessions) as session:
        shadowed = shadow(session, TENANT, find_policy(RULES_DIR, "default"), LOOSE)
    path = tmp_path / "shadow.html"
    path.write_text(shadow_report_html(shadowed), encoding="utf-8")
    charts, refused, text = _charts(browser, path)
    assert refused == []
    assert len(charts) == 1
    assert charts[0]["marks"] > 0
    assert "review → match" in text
    assert f"/review/items/{stored['trish'].review_item_id}" in text
