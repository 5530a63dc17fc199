"""Which resources are sensitive, read from their security labels (`meta.security`), and what a
`regular` consent may see of a Bundle. Pure.

A `regular` HRex consent covers no sensitive data: the member did not opt in to it. Sensitivity is
what the FHIR server labelled: the v3 ActCode sensitivity codes for ethnicity, HIV/AIDS,
psychiatry, substance use, sexuality and reproductive health, and sexually transmitted disease,
and the confidentiality codes R (restricted) and V (very restricted, stricter still). A resource
the server did not label passes: the gate enforces labels, it cannot infer them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# Current terminology.hl7.org systems and the pre-R4 hl7.org/fhir/v3 ones, which servers still use.
ACT_CODE = frozenset(
    {"http://terminology.hl7.org/CodeSystem/v3-ActCode", "http://hl7.org/fhir/v3/ActCode"}
)
CONFIDENTIALITY = frozenset(
    {
        "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
        "http://hl7.org/fhir/v3/Confidentiality",
    }
)
SENSITIVE_ACT_CODES = frozenset({"ETH", "HIV", "PSY", "SUD", "SEX", "STD"})
RESTRICTED_CONFIDENTIALITY = frozenset({"R", "V"})


def _labels(resource: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    meta = resource.get("meta")
    security = meta.get("security") if isinstance(meta, Mapping) else None
    if isinstance(security, list):
        yield from (c for c in security if isinstance(c, Mapping))


def is_sensitive(resource: Mapping[str, Any]) -> bool:
    """Labelled sensitive itself, or carrying a contained resource that is."""
    for coding in _labels(resource):
        system, code = coding.get("system"), coding.get("code")
        if system in ACT_CODE and code in SENSITIVE_ACT_CODES:
            return True
        if system in CONFIDENTIALITY and code in RESTRICTED_CONFIDENTIALITY:
            return True
    contained = resource.get("contained")
    if isinstance(contained, list):
        return any(isinstance(c, Mapping) and is_sensitive(c) for c in contained)
    return False


@dataclass(frozen=True, slots=True)
class Filtered:
    bundle: dict[str, Any]
    removed: int


def filter_bundle(
    bundle: Mapping[str, Any], keep: Callable[[Mapping[str, Any]], bool], *, may_withhold: bool
) -> Filtered:
    """The Bundle with only the entries whose resource `keep` accepts (an entry without a resource
    goes too). The count `total` goes when something was removed or `may_withhold` says other
    pages may hold what this reader cannot see: it would count what is withheld."""
    entries = bundle.get("entry")
    kept: list[Any] = []
    removed = 0
    for entry in entries if isinstance(entries, list) else []:
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        if isinstance(resource, Mapping) and keep(resource):
            kept.append(entry)
        else:
            removed += 1
    drop = ("entry", "total") if removed or may_withhold else ("entry",)
    result = {k: v for k, v in bundle.items() if k not in drop}
    if kept:
        result["entry"] = kept
    return Filtered(result, removed)
