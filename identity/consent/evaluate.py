"""Can a member's consent (HRex Consent, sent with $member-match) be honoured? A pure function of
the resource, the requesting client's organisation and today's date.

The HRex rules: status active; category IDSCL; exactly one policy, `…hrex-consent.html#regular`
or `#sensitive`; a `permit` provision with a period; the requester named as the recipient (IRCP)
by an identifier; the action `disclose`. The policy decides what may later be released:
`regular` excludes sensitive data (the member did not opt in to it), `sensitive` includes it.

A refusal carries a machine code (`reason`) and one sentence (`detail`) safe to return to the
caller: neither ever quotes a value from the consent.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, Literal

from identity.clients.organization import OrgIdentifier

__all__ = [
    "ConsentCategory",
    "ConsentDecision",
    "ConsentReason",
    "OrgIdentifier",
    "evaluate_consent",
]

ConsentCategory = Literal["regular", "sensitive"]

POLICY_BASE = "http://hl7.org/fhir/us/davinci-hrex/StructureDefinition-hrex-consent.html"
POLICIES: dict[str, ConsentCategory] = {
    f"{POLICY_BASE}#regular": "regular",
    f"{POLICY_BASE}#sensitive": "sensitive",
}
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
CONSENT_ACTION = "http://terminology.hl7.org/CodeSystem/consentaction"


class ConsentReason(StrEnum):
    MISSING = "missing"  # required, not sent
    MALFORMED = "malformed"  # not an HRex consent we can honour (the detail says which rule)
    RECIPIENT_UNKNOWN = "recipient-unknown"  # the requesting client has no organisation on file
    WRONG_RECIPIENT = "wrong-recipient"  # the consent names another recipient
    NOT_YET_VALID = "not-yet-valid"  # its period starts after today
    EXPIRED = "expired"  # its period ended before today
    WITHDRAWN = "withdrawn"  # the member withdrew consent after this one was given


@dataclass(frozen=True, slots=True)
class ConsentDecision:
    ok: bool
    reason: str | None  # a ConsentReason when refused
    # What may be released: `regular` (no sensitive data) or `sensitive`. None when no consent
    # was sent and none was required; whoever releases data then treats it as `regular`.
    category: ConsentCategory | None
    period_start: date | None  # None: open at that end
    period_end: date | None
    detail: str | None = None  # one sentence, safe to return; never a value from the consent
    # When the consent was given: its `dateTime`, else the start of its period (midnight UTC).
    # A withdrawal recorded later overrides it (identity.consent.withdrawal).
    given_at: datetime | None = None


def evaluate_consent(
    consent: Mapping[str, Any] | None,
    *,
    recipient: OrgIdentifier | None,
    today: date,
    required: bool,
) -> ConsentDecision:
    """Whether `consent` lets this service disclose to `recipient` today."""
    if consent is None:
        if required:
            return _refuse(ConsentReason.MISSING, "a Consent is required and none was sent")
        return ConsentDecision(True, None, None, None, None)
    try:
        terms = _terms(consent)
    except _Malformed as exc:
        return _refuse(ConsentReason.MALFORMED, str(exc))
    if recipient is None:
        return _refuse(
            ConsentReason.RECIPIENT_UNKNOWN,
            "the requesting client has no registered organisation to compare with the "
            "consent's recipient",
            terms,
        )
    if terms.recipient != recipient:
        return _refuse(
            ConsentReason.WRONG_RECIPIENT,
            "the consent's recipient (IRCP) is not the requesting organisation",
            terms,
        )
    if terms.start is not None and today < terms.start:
        return _refuse(ConsentReason.NOT_YET_VALID, "the consent's period has not begun", terms)
    if terms.end is not None and today > terms.end:
        return _refuse(ConsentReason.EXPIRED, "the consent's period has ended", terms)
    return ConsentDecision(
        True, None, terms.category, terms.start, terms.end, given_at=terms.given_at
    )


# --- reading the resource ----------------------------------------------------------------------


class _Malformed(ValueError):
    """The message is the refusal's detail: it names the rule, never the offending value."""


@dataclass(frozen=True, slots=True)
class _Terms:
    category: ConsentCategory
    start: date | None
    end: date | None
    recipient: OrgIdentifier
    given_at: datetime | None


def _refuse(reason: ConsentReason, detail: str, terms: _Terms | None = None) -> ConsentDecision:
    return ConsentDecision(
        False,
        reason.value,
        terms.category if terms else None,
        terms.start if terms else None,
        terms.end if terms else None,
        detail,
        terms.given_at if terms else None,
    )


def _terms(consent: Mapping[str, Any]) -> _Terms:
    if not isinstance(consent, Mapping) or consent.get("resourceType") != "Consent":
        raise _Malformed("the consent is not a FHIR Consent resource")
    if consent.get("status") != "active":
        raise _Malformed("the consent's status is not active")
    if not any(_has_coding(c, ACT_CODE, "IDSCL") for c in _list(consent.get("category"))):
        raise _Malformed("the consent's category is not IDSCL (information disclosure)")
    policies = _list(consent.get("policy"))
    if len(policies) != 1:
        raise _Malformed("the consent must carry exactly one policy")
    uri = _dict(policies[0]).get("uri")
    category = POLICIES.get(uri) if isinstance(uri, str) else None
    if category is None:
        raise _Malformed("the consent's policy is neither the HRex regular nor sensitive policy")
    provision = _dict(consent.get("provision"))
    if provision.get("type") != "permit":
        raise _Malformed("the consent's provision is not of type permit")
    start, end = _period(provision.get("period"))
    if not any(_has_coding(a, CONSENT_ACTION, "disclose") for a in _list(provision.get("action"))):
        raise _Malformed("the consent's provision does not permit the action disclose")
    given_at = _moment(consent.get("dateTime"))
    if given_at is None and start is not None:
        given_at = datetime(start.year, start.month, start.day, tzinfo=UTC)
    return _Terms(category, start, end, _recipient(provision), given_at)


def _recipient(provision: Mapping[str, Any]) -> OrgIdentifier:
    recipients = [
        _dict(a)
        for a in _list(provision.get("actor"))
        if _has_coding(_dict(a).get("role"), PARTICIPATION_TYPE, "IRCP")
    ]
    if not recipients:
        raise _Malformed("the consent's provision names no recipient (IRCP) actor")
    if len(recipients) > 1:
        raise _Malformed("the consent's provision names more than one recipient (IRCP) actor")
    identifier = _dict(_dict(recipients[0].get("reference")).get("identifier"))
    system, value = identifier.get("system"), identifier.get("value")
    if not (isinstance(system, str) and system and isinstance(value, str) and value):
        raise _Malformed("the consent's recipient is not identified by an identifier")
    return OrgIdentifier(system, value)


def _period(raw: Any) -> tuple[date | None, date | None]:
    period = _dict(raw)
    if not period.get("start") and not period.get("end"):
        raise _Malformed("the consent's provision has no period")
    start = _fhir_date(period.get("start"), first=True)
    end = _fhir_date(period.get("end"), first=False)
    if start is not None and end is not None and end < start:
        raise _Malformed("the consent's period ends before it starts")
    return start, end


def _moment(raw: Any) -> datetime | None:
    """Consent.dateTime as a UTC moment; a date alone (or a partial one) as its first midnight."""
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise _Malformed("the consent's dateTime is not a date and time")
    try:
        if "T" not in raw:
            day = _fhir_date(raw, first=True)
            assert day is not None
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    except (ValueError, OverflowError) as exc:  # _Malformed is a ValueError
        raise _Malformed("the consent's dateTime is not a date and time") from exc


_PARTIAL = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


def _fhir_date(raw: Any, *, first: bool) -> date | None:
    """A FHIR date or dateTime as a UTC calendar date. A partial date (a year, a month) stands
    for its first day as a start and its last day as an end, so the period is never widened
    beyond what was written."""
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise _Malformed("the consent's period holds a value that is not a date")
    try:
        if "T" in raw:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            if moment.tzinfo is None:  # FHIR requires a zone with a time; read none as UTC
                moment = moment.replace(tzinfo=UTC)
            return moment.astimezone(UTC).date()
        match = _PARTIAL.match(raw)
        if match is None:
            raise ValueError(raw)
        year, month, day = match.group(1), match.group(2), match.group(3)
        if day is not None:
            return date(int(year), int(month), int(day))
        if month is not None:
            m = int(month)
            last = calendar.monthrange(int(year), m)[1]
            return date(int(year), m, 1 if first else last)
        return date(int(year), 1, 1) if first else date(int(year), 12, 31)
    except (ValueError, OverflowError) as exc:  # a time zone can push year 1 or 9999 out of range
        raise _Malformed("the consent's period holds a value that is not a date") from exc


def _has_coding(concept: Any, system: str, code: str) -> bool:
    return any(
        _dict(c).get("system") == system and _dict(c).get("code") == code
        for c in _list(_dict(concept).get("coding"))
    )


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
