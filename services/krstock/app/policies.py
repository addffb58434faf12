"""Resolve the policy a run uses: a SignalPolicy, a preset name, or a YAML/JSON file path."""

from __future__ import annotations

from pathlib import Path

from krstock.domain.policy import PRESETS, PolicyFileError, SignalPolicy
from krstock.errors import InputError

PolicyLike = SignalPolicy | str | Path | None
POLICY_DOCS_HINT = "see docs/policies.md for the accepted file shapes"
MISSING_FILE_HINT = f"--policy takes a preset ({', '.join(PRESETS)}) or a YAML/JSON file"


def resolve_policy(policy: PolicyLike = None) -> SignalPolicy:
    """``None`` is the monolith preset; a string is a preset name or, if it names a file, a file."""
    if isinstance(policy, SignalPolicy):
        return policy
    if policy is None:
        return SignalPolicy.preset("monolith")
    path = Path(policy)
    if path.suffix.lower() in {".yaml", ".yml", ".json"} or path.is_file():
        return _from_file(path)
    return SignalPolicy.preset(str(policy))


def _from_file(path: Path) -> SignalPolicy:
    if not path.is_file():
        missing = FileNotFoundError(f"policy file not found: {path}")
        missing.hint = MISSING_FILE_HINT  # type: ignore[attr-defined]
        raise missing
    try:
        return SignalPolicy.from_file(path)
    except PolicyFileError as exc:
        raise InputError(str(exc), POLICY_DOCS_HINT) from exc
