"""Resolve the policy a run uses: a SignalPolicy, a preset name, or a YAML/JSON file path."""

from __future__ import annotations

from pathlib import Path

from krstock.domain.policy import SignalPolicy

PolicyLike = SignalPolicy | str | Path | None


def resolve_policy(policy: PolicyLike = None) -> SignalPolicy:
    """``None`` is the monolith preset; a string is a preset name or, if it names a file, a file."""
    if isinstance(policy, SignalPolicy):
        return policy
    if policy is None:
        return SignalPolicy.preset("monolith")
    path = Path(policy)
    if path.suffix.lower() in {".yaml", ".yml", ".json"} or path.is_file():
        if not path.is_file():
            raise FileNotFoundError(f"policy file not found: {path}")
        return SignalPolicy.from_file(path)
    return SignalPolicy.preset(str(policy))
