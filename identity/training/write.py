"""The trained policy file: the source policy with new parameters, a new label, its provenance.

Written as plain YAML in the policy's own key order. Floats are written as Python's repr (PyYAML
does that), the shortest text that reads back as the same double, so the service computes
splink's weights to the bit. The file is new or nothing: an existing file is never replaced, and
a file that `parse_policy` would refuse is never written.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from identity.matching.policy import (
    Policy,
    PolicyError,
    load_policy_file,
    parse_policy,
    policy_files,
)
from identity.training.errors import TrainingRefused
from identity.training.estimates import Estimates

LABEL_MAX = 41  # the policy label pattern allows 41 characters
_TRAINED_SUFFIX = re.compile(r"-trained\.[0-9]{12}$")


class _Flow(dict[str, Any]):
    """A mapping written on one line (`{m: 0.9, u: 0.01}`), as the hand-written policies do."""


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True  # a policy is read by people: no &id001 anchors


_Dumper.add_representer(
    _Flow,
    lambda dumper, data: dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True),
)


def default_label(label: str, now: datetime) -> str:
    """`<label>-trained.<UTC yyyymmddHHMM>`; retraining replaces the stamp instead of stacking."""
    suffix = f"-trained.{now:%Y%m%d%H%M}"
    base = _TRAINED_SUFFIX.sub("", label)
    return base[: LABEL_MAX - len(suffix)] + suffix


def trained_document(
    policy: Policy,
    estimates: Estimates,
    *,
    label: str,
    term_frequencies: dict[str, dict[str, float]],
    training: dict[str, Any],
) -> dict[str, Any]:
    """The source document (as written, key order kept) with the trained model in place."""
    document: dict[str, Any] = yaml.safe_load(policy.source_text)
    document["label"] = label
    old_model: dict[str, Any] = document.get("model") or {}
    parameters = {
        name: {level: _Flow(mu) for level, mu in levels.items()}
        for name, levels in estimates.parameters().items()
    }
    model: dict[str, Any] = {"prior": estimates.prior, "parameters": parameters}
    if old_model.get("m_bounds"):
        model["m_bounds"] = {
            name: {level: _Flow(bound) for level, bound in levels.items()}
            for name, levels in old_model["m_bounds"].items()
        }
    # The safety bounds and the relatives' profiles go on: a retrained policy keeps its guard.
    if old_model.get("weight_bounds"):
        model["weight_bounds"] = {
            name: {level: _Flow(bound) for level, bound in levels.items()}
            for name, levels in old_model["weight_bounds"].items()
        }
    if old_model.get("relative_profiles"):
        model["relative_profiles"] = [
            {**profile, "levels": _Flow(profile["levels"])}
            for profile in old_model["relative_profiles"]
        ]
    model["training"] = training
    if term_frequencies:
        old_tf = old_model.get("term_frequencies") or {}
        model["term_frequencies"] = {
            name: {
                "minimum_u": float((old_tf.get(name) or {}).get("minimum_u", 0.0)),
                "values": values,
            }
            for name, values in term_frequencies.items()
        }
    document["model"] = model
    return document


def render(document: dict[str, Any], header: str) -> str:
    body = yaml.dump(
        document,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=False,
        width=100,
    )
    comment = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    return comment + body


def label_in_use(rules_dir: Path, label: str) -> Path | None:
    """A policy file in `rules_dir` that already carries `label` (two would make it ambiguous)."""
    for path in policy_files(rules_dir):
        with contextlib.suppress(PolicyError, OSError):
            if load_policy_file(path).label == label:
                return path
    return None


def write_policy(rules_dir: Path, label: str, text: str) -> tuple[Path, Policy]:
    """Validate `text` as the service would, then create `<label>.yaml`; never overwrite."""
    path = rules_dir / f"{label}.yaml"
    try:
        policy = parse_policy(text, source=str(path))
    except PolicyError as exc:
        raise TrainingRefused("the trained policy does not validate", exc.problems) from exc
    if (other := label_in_use(rules_dir, label)) is not None:
        raise TrainingRefused(f"label {label!r} is already used by {other.name}; pass --label")
    # Write a temporary file, then hard-link it into place: the link fails if the name exists
    # (no overwrite, no race), and a reader never sees half a file.
    fd, tmp = tempfile.mkstemp(dir=rules_dir, prefix=".training-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.link(tmp, path)
    except FileExistsError as exc:
        raise TrainingRefused(f"{path} already exists; pass another --label") from exc
    finally:
        os.unlink(tmp)
    return path, policy
