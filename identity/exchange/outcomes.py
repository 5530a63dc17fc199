"""Why a $member-match gives no member: each answer a 422 (or 429) OperationOutcome whose
`issue.details.coding` carries one of these codes under MEMBER_MATCH_OUTCOMES."""

from __future__ import annotations

from identity.errors import FieldError, IdentityError

MEMBER_MATCH_OUTCOMES = "https://identity.example/fhir/CodeSystem/member-match-outcome"


class MemberMatchRefused(IdentityError):
    status = 422
    system = MEMBER_MATCH_OUTCOMES


class NoMatch(MemberMatchRefused):
    code = "no-match"
    title = "No member matches"


class MultipleMatches(MemberMatchRefused):
    code = "multiple-matches"
    title = "More than one member matches"


class PendingReview(MemberMatchRefused):
    code = "pending-review"
    title = "A data steward must confirm the match"

    def __init__(self, review_item_id: str, status_url: str) -> None:
        super().__init__(
            "the match awaits a data steward; repeat the request later or poll the status URL",
            headers={"Content-Location": status_url},
        )
        self.review_item_id = review_item_id
        self.diagnostics = f"review item {review_item_id}; status {status_url}"


class ConsentInvalid(MemberMatchRefused):
    code = "consent-invalid"
    title = "The consent cannot be honoured"


class InsufficientDemographics(MemberMatchRefused):
    code = "insufficient-demographics"
    title = "The request lacks what a member match needs"

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("the member match request is incomplete or invalid", errors=errors)


class TooManyAttempts(MemberMatchRefused):
    status = 429
    code = "too-many-attempts"
    title = "Too many attempts for these demographics"

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(
            "these demographics were tried with too many different coverage ids; wait",
            headers={"Retry-After": str(retry_after_s)},
        )


OUTCOME_CODES = (
    NoMatch.code,
    MultipleMatches.code,
    PendingReview.code,
    ConsentInvalid.code,
    InsufficientDemographics.code,
    TooManyAttempts.code,
)
