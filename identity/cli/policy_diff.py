"""`identity policy diff A B`: what changed between two policies, by section."""

from __future__ import annotations

from typing import Annotated

import typer

from identity.cli.common import fail, open_sessions
from identity.config import Settings, load_settings
from identity.db import transaction
from identity.evaluation.policies import resolve_policy
from identity.evaluation.policy_diff import diff, render
from identity.matching.policy import Policy, PolicyError


def policy_from_anywhere(settings: Settings, ref: str) -> Policy:
    """A policy file, or a name in matching_rules/; else a version stored in the database
    (opened only then, so comparing files needs no database)."""
    try:
        return resolve_policy(None, settings.rules_dir, ref)
    except PolicyError:
        pass
    with transaction(open_sessions(settings)) as session:
        try:
            return resolve_policy(session, settings.rules_dir, ref)
        except PolicyError as exc:
            raise fail(
                f"{ref}: not a policy file, a name in matching_rules/ nor a stored version", 2
            ) from exc


def policy_diff(
    a: Annotated[str, typer.Argument(help="The policy before: a file, name, label or version.")],
    b: Annotated[str, typer.Argument(help="The policy after: a file, name, label or version.")],
) -> None:
    """Show what changed from policy A to policy B, by section (rules, thresholds, guards,
    comparisons, parameters with their weights)."""
    settings = load_settings()
    before, after = policy_from_anywhere(settings, a), policy_from_anywhere(settings, b)
    typer.echo(render(before, after, diff(before, after)))
