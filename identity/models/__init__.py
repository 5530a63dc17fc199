"""ORM tables, one file per table; importing the package registers them on `Base.metadata`."""

from identity.models.api_client import ApiClient
from identity.models.audit_chain_head import AuditChainHead
from identity.models.audit_event import AuditEvent
from identity.models.base import Base
from identity.models.blocking_key import BlockingKey
from identity.models.bulk_match import BulkMatchJob, BulkMatchMember
from identity.models.client_assertion import ClientAssertion
from identity.models.consent_withdrawal import ConsentWithdrawal
from identity.models.coverage import Coverage
from identity.models.decision import MatchDecision
from identity.models.duplicate_cluster import DuplicateCluster
from identity.models.idempotency_record import IdempotencyRecord
from identity.models.learned_given_name import LearnedGivenName
from identity.models.match_token import MatchToken
from identity.models.member import Member
from identity.models.member_match import MemberMatchAttempt, MemberMatchRequest
from identity.models.policy import PolicyActivation, PolicyVersion
from identity.models.remembered_decision import RememberedDecision
from identity.models.review_item import ReviewItem
from identity.models.review_resolution import ReviewResolution
from identity.models.same_person_pair import SamePersonPair
from identity.models.steward_session import SignInLink, StewardSession
from identity.models.token_introspection import TokenIntrospection
from identity.models.webhook import ClientWebhook, WebhookDelivery

__all__ = [
    "ApiClient",
    "AuditChainHead",
    "AuditEvent",
    "Base",
    "BlockingKey",
    "BulkMatchJob",
    "BulkMatchMember",
    "ClientAssertion",
    "ClientWebhook",
    "ConsentWithdrawal",
    "DuplicateCluster",
    "Coverage",
    "IdempotencyRecord",
    "LearnedGivenName",
    "MatchDecision",
    "MatchToken",
    "Member",
    "MemberMatchAttempt",
    "MemberMatchRequest",
    "PolicyActivation",
    "PolicyVersion",
    "RememberedDecision",
    "ReviewItem",
    "ReviewResolution",
    "SamePersonPair",
    "SignInLink",
    "StewardSession",
    "TokenIntrospection",
    "WebhookDelivery",
]
