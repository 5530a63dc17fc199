"""The published policy as HTML for people: a stand-alone page (GET /v1/policy with
Accept: text/html) and the same content inside the workbench (/review/policy).

A rendering of `published.published_policy`'s dictionary, nothing more: no value is written here.
Autoescaped, no script, no inline style, so it is served with `default-src 'none'`.
"""

from __future__ import annotations

from typing import Any

from jinja2 import DictLoader, Environment, select_autoescape
from markupsafe import Markup

# The content, shared by the stand-alone page below and the workbench's /review/policy.
# Each <section> names, in data-policy, the sections of the policy file it renders (a test checks
# that together they are every section the policy model has).
_BODY = """<section data-policy="label name description">
<h1>Matching policy {{ p.label }} for {{ p.tenant }}</h1>
<p>Policy <code>{{ p.name }}</code>, version <code>{{ p.version }}</code>{% if p.activated_at %},
active since <time datetime="{{ p.activated_at }}">{{ p.activated_at }}</time>{% endif %}.</p>
<p>{{ p.description }}</p>
</section>

<section data-policy="decision">
<h2>Decisions</h2>
<table>
<caption>Thresholds</caption>
<tr><th scope="row">Match at or above</th><td>{{ p.decision.match_probability }}</td></tr>
<tr><th scope="row">Review at or above</th><td>{{ p.decision.review_probability }}</td></tr>
<tr><th scope="row">Margin over the runner-up</th><td>{{ p.decision.margin }}</td></tr>
</table>
<dl>
{% for o in p.decision.outcomes %}<dt><code>{{ o.outcome }}</code></dt><dd>{{ o.when }}</dd>
{% endfor %}</dl>
</section>

<section data-policy="steward_decisions">
<h2>Review</h2>
<p>Review items are to be settled within {{ p.review.sla_hours }} hours; a steward's claim on an
item lasts {{ p.review.claim_lease_minutes }} minutes.</p>
<ul>
{% for line in p.review.remembered_decisions_in_words %}<li>{{ line }}</li>
{% endfor %}</ul>
</section>

<section data-policy="rules">
<h2>Rules</h2>
{% for kind in ["negative", "positive"] %}
<h3>{{ kind | capitalize }} rules</h3>
<dl>
{% for r in p.rules[kind] %}<dt><code>{{ r.name }}</code></dt><dd>{{ r.description }}
<br>When every one holds: {{ r.when_in_words }}.</dd>
{% else %}<dt>None</dt><dd>This policy declares no {{ kind }} rules.</dd>
{% endfor %}</dl>
{% endfor %}
</section>

<section data-policy="predicates">
<h2>What the rules' words mean</h2>
<ul>
{% for s in p.predicates %}<li>{{ s.meaning }}</li>
{% endfor %}</ul>
</section>

<section data-policy="guards">
<h2>Guards</h2>
<dl>
{% for g in p.guards %}<dt><code>{{ g.name }}</code> (at most <code>{{ g.cap }}</code>)</dt>
<dd>{{ g.description }}<br>The guard {{ g.condition_in_words }}.</dd>
{% else %}<dt>None</dt><dd>This policy declares no guards.</dd>
{% endfor %}</dl>
</section>

<section data-policy="given_name_equivalences">
<h2>Equivalent given names</h2>
{% for line in p.given_name_equivalences.in_words %}<p>{{ line }}</p>
{% endfor %}
</section>

<section data-policy="blocking comparisons model">
<h2>Candidates and scores</h2>
<p>Candidates are found under the blocking keys
{% for k in p.blocking["keys"] %}<code>{{ k }}</code>{% if not loop.last %}, {% endif %}{% endfor %}
(a value shared by more than {{ p.blocking.max_block_size }} members is skipped; at most
{{ p.blocking.max_candidates }} candidates a request).</p>
{% if p.model %}<p>Candidates no rule settles are scored by a Fellegi-Sunter model
({{ "trained on this payer's data" if p.model.trained else "not trained" }}; prior
{{ p.model.prior }}) comparing:</p>
<ul>
{% for c in p.model.comparisons %}<li><code>{{ c.name }}</code>: {{ c.levels | join(", ") }}</li>
{% endfor %}</ul>{% else %}<p>This policy has no probabilistic model.</p>{% endif %}
</section>

<section data-policy="coverage_status">
<h2>Former members</h2>
<p>{{ p.coverage_status.in_words }}</p>
</section>

<section>
<h2>Payer-to-payer requests</h2>
<p>A member's consent is {{ "required" if p.member_match.consent_required else "optional" }}.
One client may try at most {{ p.member_match.max_cards_per_person }} cards for one person and
{{ p.member_match.max_people_per_card }} people for one card within
{{ p.member_match.window_minutes }} minutes.</p>
</section>

<section>
<h2>Evidence and how long it is kept</h2>
<ul>
{% for e in p.evidence.kept_with_each_decision %}<li>{{ e }}</li>
{% endfor %}</ul>
<p>The demographics are kept {{ p.evidence.demographics_kept_days }} days; after that
{{ p.evidence.after_that }}. {{ p.evidence.open_review_items | capitalize }}.
Match tokens live at most {{ p.evidence.match_token_max_days }} days; bulk results are kept
{{ p.evidence.bulk_results_kept_hours }} hours for collection; answers remembered for retries
{{ p.evidence.idempotent_answers_kept_hours }} hours. Audit trail: {{ p.evidence.audit_trail }}.</p>
</section>
"""

_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Matching policy {{ p.version }}</title></head>
<body>
<main>
{% include "body.html" %}
</main>
</body>
</html>
"""

_ENV = Environment(
    loader=DictLoader({"policy.html": _PAGE, "body.html": _BODY}),
    autoescape=select_autoescape(default=True, default_for_string=True),
)


def render_html(published: dict[str, Any]) -> str:
    """A stand-alone page (no script, no style)."""
    return _ENV.get_template("policy.html").render(p=published)


def render_body(published: dict[str, Any]) -> Markup:
    """The page's content as an escaped fragment, for a page that has its own frame."""
    return Markup(_ENV.get_template("body.html").render(p=published))
