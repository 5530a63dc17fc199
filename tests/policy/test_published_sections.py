"""Every section of the policy model is published and rendered for people: the list of sections
comes from the model itself (PolicyDocument's fields, PredicatesSpec's settings), so a section
added to the model without its rendering fails here. Conditions read as sentences, not JSON, and
the words change with the policy file."""

from __future__ import annotations

import html
import re
from typing import Any, get_args

import httpx

from identity.matching.policy import (
    Policy,
    PolicyDocument,
    PredicatesSpec,
    StewardDecisionsSpec,
    find_policy,
)
from identity.policy.published import NESTED_SECTIONS, Terms, published_policy
from identity.policy.published_html import render_html
from identity.policy.published_words import PREDICATE_PHRASES, STEWARD_PHRASES
from tests.conftest import RULES_DIR
from tests.policy.test_published import _edited

TERMS = Terms(
    review_sla_hours=24,
    review_claim_lease_s=900,
    retention_days=90,
    match_token_lifetime_s=86_400,
    bulk_match_retention_s=3_600,
    member_match_window_s=3_600,
    member_match_max_cards=3,
    member_match_max_people_per_card=3,
    require_consent=True,
)


def _published(policy: Policy) -> dict[str, Any]:
    return published_policy(policy, tenant="t", activated_at=None, terms=TERMS)


def _text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def _rendered_sections(page: str) -> set[str]:
    return {s for attr in re.findall(r'data-policy="([^"]*)"', page) for s in attr.split()}


def test_every_section_of_the_policy_model_is_published_and_rendered() -> None:
    policy = find_policy(RULES_DIR, "default")
    sections = set(PolicyDocument.model_fields)
    published = _published(policy)
    for section in sections:
        node: Any = published
        for part in NESTED_SECTIONS.get(section, (section,)):
            assert isinstance(node, dict), section
            assert part in node, f"{section} is not published"
            node = node[part]
        assert node not in (None, [], {}), f"{section} is published empty"
    page = render_html(published)
    assert _rendered_sections(page) == sections
    # A section's element holds content of its own beyond its heading.
    for body in re.findall(r"<section data-policy=[^>]*>(.*?)</section>", page, re.S):
        assert len(_text(body)) > 40


def test_every_predicate_setting_has_its_sentence_and_it_is_shown() -> None:
    settings = {
        (group, setting)
        for group, info in PredicatesSpec.model_fields.items()
        for setting in info.annotation.model_fields  # type: ignore[union-attr]
    }
    assert set(PREDICATE_PHRASES) == settings
    published = _published(find_policy(RULES_DIR, "default"))
    text = _text(render_html(published))
    assert len(published["predicates"]) == len(settings)
    for setting in published["predicates"]:
        assert setting["meaning"] in text


def test_every_steward_decision_setting_and_value_has_its_sentence() -> None:
    allowed = {
        (name, value)
        for name, info in StewardDecisionsSpec.model_fields.items()
        for value in get_args(info.annotation)
    }
    assert set(STEWARD_PHRASES) == allowed
    default = _text(render_html(_published(find_policy(RULES_DIR, "default"))))
    assert "A request a steward linked to a member is that member." in default
    ignored = _edited("9.9.5-stewards", {"link: certain": "link: ignore"})
    text = _text(render_html(_published(ignored)))
    assert "A steward's link of a request to a member is not used." in text
    assert "A request a steward linked to a member is that member." not in text
    unused = _edited(
        "9.9.4-no-stewards",
        {"steward_decisions:\n  keep_apart: exclude\n  link: certain\n  same_person: survivor": ""},
    )
    assert "not applied to later requests" in _text(render_html(_published(unused)))


def test_conditions_read_as_sentences_not_json() -> None:
    policy = find_policy(RULES_DIR, "default")
    published = _published(policy)
    page = render_html(published)
    text = _text(page)
    assert not re.search(r"[{\[]\s*\"", text)  # no JSON object or list of strings
    for kind in ("negative", "positive"):
        for rule in published["rules"][kind]:
            assert rule["when_in_words"] in text
    assert len(published["guards"]) == len(policy.document.guards)
    for guard in published["guards"]:
        assert guard["condition_in_words"] in text
    words = " ".join(g["condition_in_words"] for g in published["guards"])
    assert "given name is phonetic or initial; and sex is else (no other level)" in words
    assert "missing on either side" in words  # the `null` level
    assert "exchanged" in words  # the crosswise guard says so
    assert "birth date years apart at least 15 and keying error" in words  # a when_predicates


def test_the_words_follow_the_policy_file() -> None:
    edited = _edited(
        "9.9.7-sections",
        {
            "lookback_years: 5": "lookback_years: 7",
            "past_lookback: not_disclosed": "past_lookback: disclosed",
            "min_links: 2": "min_links: 4",
            "typo_edits: 1": "typo_edits: 2",
            "diminutives: [listed, derived]": "diminutives: [derived]",
        },
    )
    before = _text(render_html(_published(find_policy(RULES_DIR, "default"))))
    after = _text(render_html(_published(edited)))
    assert "ended within the last 5 years" in before
    assert "is answered as no match" in before
    assert "ended within the last 7 years" in after
    assert "is answered as a match all the same" in after
    assert "for 2 distinct member(s)" in before
    assert "for 4 distinct member(s)" in after
    assert "at most 1 edit(s)" in before
    assert "at most 2 edit(s)" in after
    assert "the listed and derived diminutives" in before
    assert "the derived diminutives" in after
    assert "listed" not in after.split("Equivalent given names", 1)[1].split("Candidates", 1)[0]


def test_the_served_page_renders_every_section(client: httpx.Client, active_policy: str) -> None:
    r = client.get("/v1/policy", headers={"Accept": "text/html"})
    assert r.status_code == 200, r.text
    assert _rendered_sections(r.text) == set(PolicyDocument.model_fields)
    body = client.get("/v1/policy").json()
    assert body["coverage_status"]["lookback_years"] == 5
    assert body["predicates"][0] == {
        "field": "given_name",
        "setting": "agree_jaro_winkler",
        "value": 0.92,
        "meaning": "Given names agree when their Jaro-Winkler similarity is at least 0.92.",
    }
