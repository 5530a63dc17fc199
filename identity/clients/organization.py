"""The organisation a registered client speaks for, as a FHIR identifier (system + value, e.g. an
NPI). A consent's recipient is compared with it: the consent must name the requester."""

from __future__ import annotations

from dataclasses import dataclass

MAX_SYSTEM = 255
MAX_VALUE = 128


@dataclass(frozen=True, slots=True)
class OrgIdentifier:
    system: str
    value: str

    def __str__(self) -> str:
        return f"{self.system}|{self.value}"


def parse_org_identifier(text: str) -> OrgIdentifier:
    """`SYSTEM|VALUE` (FHIR's token search syntax), both parts required; ValueError otherwise."""
    system, sep, value = text.strip().partition("|")
    system, value = system.strip(), value.strip()
    if not sep or not system or not value or "|" in value:
        raise ValueError("write the organisation identifier as SYSTEM|VALUE")
    if len(system) > MAX_SYSTEM or len(value) > MAX_VALUE:
        raise ValueError(
            f"an organisation identifier's system is at most {MAX_SYSTEM} characters "
            f"and its value at most {MAX_VALUE}"
        )
    return OrgIdentifier(system, value)
