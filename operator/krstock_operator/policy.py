"""Resolve a ScanJob's SignalPolicy into the document the workers read.

The policy's spec holds overrides on top of the preset its ``extends`` names; the engines'
shared ``SignalPolicy`` model (the one import from ``krstock``) validates and completes it, so
workers always get a full policy with every value explicit.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import ValidationError

from krstock_operator.manifests import PolicyDoc


class PolicyProblem(Exception):
    """A policyRef that cannot be honoured; ``reason`` is the condition reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def policy_document(name: str, spec: dict[str, Any]) -> PolicyDoc:
    from krstock.domain.policy import SignalPolicy

    overrides = dict(spec or {})
    overrides.setdefault("name", name)  # the CR's name labels the results unless set explicitly
    try:
        model = SignalPolicy.from_mapping(overrides)
    except (ValidationError, ValueError) as exc:
        if not isinstance(exc, ValidationError):
            raise PolicyProblem("PolicyInvalid", f"SignalPolicy {name} is invalid: {exc}") from exc
        errors = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise PolicyProblem("PolicyInvalid", f"SignalPolicy {name} is invalid: {errors}") from exc
    data = json.dumps(model.model_dump(mode="json"), sort_keys=True, indent=1)
    return PolicyDoc(name=name, data=data, digest=hashlib.sha256(data.encode()).hexdigest())


def resolve(
    namespace: str, name: str | None, known: dict[tuple[str, str], dict[str, Any]]
) -> PolicyDoc | None:
    """The document for ``policyRef.name`` (None without a ref); PolicyProblem if unusable."""
    if name is None:
        return None
    spec = known.get((namespace, name))
    if spec is None:
        raise PolicyProblem(
            "PolicyNotFound", f"SignalPolicy {namespace}/{name} (spec.policyRef) does not exist"
        )
    return policy_document(name, spec)
