"""Which of issue 12's families of hard cases a perturbed query belongs to.

A query can belong to several (a married name after a move with a mistyped birth year is in
both). The benchmark reports decision recall per family, so a regression in one shows up even
when the overall figure hides it.
"""

from __future__ import annotations

from collections.abc import Iterable

YEAR_KEYED = "birth_year_keyed"
DIMINUTIVE = "diminutive"
MARRIED_MOVED = "married_name_moved"
TWO_CHANGES = "two_changes"
OTHER = "other_changes"
FAMILIES = (YEAR_KEYED, DIMINUTIVE, MARRIED_MOVED, TWO_CHANGES, OTHER)

# perturbation -> the field it changes (a missing value is not a change; a move is one change of
# where someone lives, phone included; a married name after a move is one life event).
CHANGED_FIELD: dict[str, str] = {
    "nickname": "given",
    "diminutive": "given",
    "typo_given": "given",
    "typo_family": "family",
    "family_name_change": "family",
    "married_name_moved": "family",
    "birth_date_day_month_swap": "birth_date",
    "birth_date_digit": "birth_date",
    "birth_year_off_by_one": "birth_date",
    "birth_year_digit": "birth_date",
    "birth_year_swap": "birth_date",
    "moved": "address",
    "moved_kept_phone": "address",
    "new_phone": "phone",
}


def families_of(perturbations: Iterable[str]) -> tuple[str, ...]:
    """The families, in `FAMILIES` order; `other_changes` when none of the four applies."""
    applied = set(perturbations)
    found: list[str] = []
    if applied & {"birth_year_digit", "birth_year_swap"}:
        found.append(YEAR_KEYED)
    if DIMINUTIVE in applied:
        found.append(DIMINUTIVE)
    if MARRIED_MOVED in applied or (
        "family_name_change" in applied and applied & {"moved", "moved_kept_phone"}
    ):
        found.append(MARRIED_MOVED)
    if len({CHANGED_FIELD[p] for p in applied if p in CHANGED_FIELD}) >= 2:
        found.append(TWO_CHANGES)
    return tuple(found) or (OTHER,)
