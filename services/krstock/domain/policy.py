"""``SignalPolicy``: every rule number of every engine in one validated, versionable object.

Named presets:

- ``monolith`` (default): the exact original Gen1 behaviour.
- ``p10``: the lowered thresholds of the p10 copy (closing-bet §4.2 variant, VCP volume check,
  closing-bet cap 100).

A policy is built from a preset plus partial overrides (``extends`` names the preset), from a
mapping, from YAML/JSON text or from a file. ``fingerprint()`` hashes the canonical JSON so a
scan result can say exactly which rules produced it. The JSON schema (``model_json_schema()``)
is the SignalPolicy CRD's spec schema: snake_case fields with bounds and descriptions.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from krstock.domain.closing_bet import ClosingBetPolicy, p10_closing_bet_policy
from krstock.domain.flows import FlowPolicy
from krstock.domain.market_gate import MarketGatePolicy
from krstock.domain.tracking import TrackingPolicy
from krstock.domain.trend_template import TrendTemplatePolicy
from krstock.domain.vcp import VcpPolicy
from krstock.domain.vcp_legacy import VcpLegacyPolicy

PresetName = Literal["monolith", "p10"]
PRESETS: tuple[PresetName, ...] = ("monolith", "p10")
_LABEL_FIELDS = ("name", "description", "extends")
_RESOURCE_FIELDS = ("apiVersion", "kind", "metadata", "spec", "status")
ACCEPTED_SHAPES = (
    "a SignalPolicy resource (apiVersion/kind/metadata/spec), its bare spec, "
    "or the body of GET /api/v1/policies/NAME"
)


class PolicyFileError(ValueError):
    """A policy document that cannot be read: its syntax, its shape or a field (named)."""


class SignalPolicy(BaseModel):
    """All engine rules; defaults are the monolith's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        default="monolith",
        min_length=1,
        max_length=63,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        description="Policy name (DNS label, as the CRD object name).",
    )
    description: str = Field(
        default="The original Gen1 monolith rules.",
        max_length=1000,
        description="Free text shown with results.",
    )
    extends: PresetName = Field(
        default="monolith", description="Preset the overrides were applied to."
    )
    flows: FlowPolicy = Field(
        default_factory=FlowPolicy, description="Supply-demand index, trends, screener."
    )
    vcp_legacy: VcpLegacyPolicy = Field(
        default_factory=VcpLegacyPolicy, description="SignalTracker VCP rule (§4.1)."
    )
    vcp: VcpPolicy = Field(default_factory=VcpPolicy, description="Minervini VCP detector.")
    trend_template: TrendTemplatePolicy = Field(
        default_factory=TrendTemplatePolicy, description="Minervini trend template."
    )
    closing_bet: ClosingBetPolicy = Field(
        default_factory=ClosingBetPolicy, description="종가베팅 V2 (§4.2–§4.3)."
    )
    market_gate: MarketGatePolicy = Field(
        default_factory=MarketGatePolicy, description="Market Gate and market status (§4.4)."
    )
    tracking: TrackingPolicy = Field(
        default_factory=TrackingPolicy, description="Exits and costs (§4.5, §4.9)."
    )

    # ------------------------------------------------------------------ construction

    @classmethod
    def preset(cls, name: str = "monolith") -> SignalPolicy:
        """A named preset: ``monolith`` or ``p10``."""
        if name == "monolith":
            return cls()
        if name == "p10":
            return cls(
                name="p10",
                description="The p10 copy's lowered thresholds (closing bet §4.2 variant, "
                "VCP volume check, 100 closing-bet positions).",
                extends="p10",
                vcp_legacy=VcpLegacyPolicy(volume_check=True),
                closing_bet=p10_closing_bet_policy(),
            )
        raise ValueError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")

    def merged(self, overrides: Mapping[str, Any]) -> SignalPolicy:
        """A new policy with ``overrides`` deep-merged (lists and tuples are replaced)."""
        data = _deep_merge(self.model_dump(mode="json"), dict(overrides))
        return type(self).model_validate(data)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> SignalPolicy:
        """Overrides on top of the preset named by ``extends`` (default ``monolith``)."""
        if not isinstance(data, Mapping):
            raise ValueError(f"a policy must be a mapping, got {type(data).__name__}")
        return cls.preset(str(data.get("extends", "monolith"))).merged(data)

    @classmethod
    def from_text(
        cls, text: str, fmt: Literal["yaml", "json"] = "yaml", *, source: str = "policy"
    ) -> SignalPolicy:
        """Parse YAML (a superset of JSON) or strict JSON text in any of the accepted shapes
        (``ACCEPTED_SHAPES``); ``PolicyFileError`` names ``source`` and the wrong field."""
        try:
            data = json.loads(text) if fmt == "json" else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError) as exc:
            raise PolicyFileError(f"{source}: not valid {fmt.upper()}: {_syntax(exc)}") from exc
        overrides, prefix = _overrides_of(data, source)
        try:
            return cls.from_mapping(overrides)
        except ValidationError as exc:
            raise PolicyFileError(f"{source}: {_field_errors(exc, prefix)}") from exc
        except ValueError as exc:  # an unknown preset in extends
            raise PolicyFileError(f"{source}: {prefix}extends: {exc}") from exc

    @classmethod
    def from_file(cls, path: str | Path) -> SignalPolicy:
        """Load ``*.yaml``/``*.yml``/``*.json`` (the one file read in the domain: config only)."""
        p = Path(path)
        fmt: Literal["yaml", "json"] = "json" if p.suffix.lower() == ".json" else "yaml"
        return cls.from_text(p.read_text(encoding="utf-8"), fmt, source=f"policy file {p}")

    # ------------------------------------------------------------------ identity

    def canonical_json(self, *, rules_only: bool = True) -> str:
        """Sorted keys, no whitespace, UTF-8. ``rules_only`` leaves out name, description and
        extends, which do not change any result."""
        data = self.model_dump(mode="json")
        if rules_only:
            for key in _LABEL_FIELDS:
                data.pop(key, None)
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def fingerprint(self) -> str:
        """SHA-256 (hex) of the rules' canonical JSON: equal rules, equal fingerprints."""
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()


def _overrides_of(data: Any, source: str) -> tuple[dict[str, Any], str]:
    """The overrides a document holds, and the path prefix its fields have in the document."""
    if data is None:
        return {}, ""
    if not isinstance(data, Mapping):
        raise PolicyFileError(f"{source}: expected {ACCEPTED_SHAPES}, got a {type(data).__name__}")
    if {"apiVersion", "kind", "spec"} & set(data):
        return _resource_overrides(data, source), "spec."
    if "strategies" in data:
        return _api_overrides(data, source), ""
    return dict(data), ""


def _resource_overrides(data: Mapping[str, Any], source: str) -> dict[str, Any]:
    """A SignalPolicy resource: its spec, named by metadata.name unless the spec names itself."""
    kind = data.get("kind", "SignalPolicy")
    if kind != "SignalPolicy":
        raise PolicyFileError(f"{source}: kind: expected SignalPolicy, got {kind!r}")
    unknown = sorted(set(data) - set(_RESOURCE_FIELDS))
    if unknown:
        raise PolicyFileError(
            f"{source}: unknown top-level fields {', '.join(unknown)} "
            "(a SignalPolicy resource has apiVersion, kind, metadata and spec)"
        )
    spec = data.get("spec") or {}
    metadata = data.get("metadata") or {}
    if not isinstance(spec, Mapping) or not isinstance(metadata, Mapping):
        raise PolicyFileError(f"{source}: spec and metadata must be mappings")
    overrides = dict(spec)
    if metadata.get("name") and "name" not in overrides:
        overrides["name"] = metadata["name"]
    return overrides


def _api_overrides(data: Mapping[str, Any], source: str) -> dict[str, Any]:
    """The API's policy body: labels at the top and each engine's section under strategies
    (other top-level fields are the API's own and carry no rule)."""
    strategies = data["strategies"]
    if not isinstance(strategies, Mapping):
        raise PolicyFileError(f"{source}: strategies must be a mapping of engine sections")
    labels = {key: data[key] for key in _LABEL_FIELDS if key in data}
    return {**labels, **strategies}


def _field_errors(exc: ValidationError, prefix: str, limit: int = 3) -> str:
    """``spec.vcp.min_contractions: Input should be ... (got 'x')``, at most ``limit``."""
    errors = exc.errors()
    items = [
        f"{prefix}{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
        + ("" if error["type"] == "extra_forbidden" else f" (got {error.get('input')!r})")
        for error in errors[:limit]
    ]
    more = f" (and {len(errors) - limit} more)" if len(errors) > limit else ""
    return "; ".join(items) + more


def _syntax(exc: Exception) -> str:
    """Where a YAML/JSON parser stopped: its problem and line/column."""
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:
        problem = getattr(exc, "problem", None) or exc
        return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
    return str(exc).splitlines()[0]


def _deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out
