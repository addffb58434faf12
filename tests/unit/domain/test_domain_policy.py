"""SignalPolicy: presets, overrides, loading, fingerprint and the CRD-ready JSON schema."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from krstock.domain.closing_bet import ClosingBetPolicy
from krstock.domain.policy import PRESETS, SignalPolicy


def test_monolith_is_the_default_with_original_numbers() -> None:
    p = SignalPolicy()
    assert p == SignalPolicy.preset("monolith")
    cb = p.closing_bet
    assert cb.min_trading_value == 50_000_000_000
    assert [(t.min_trading_value, t.points) for t in cb.volume_tiers] == [
        (1_000_000_000_000, 3),
        (500_000_000_000, 2),
        (100_000_000_000, 1),
    ]
    assert (cb.grades.s.min_score, cb.grades.a.min_score, cb.grades.b.min_score) == (10, 8, 6)
    assert (cb.min_price, cb.max_price, cb.min_change_pct, cb.max_change_pct) == (
        1_000,
        500_000,
        5.0,
        29.9,
    )
    assert (cb.max_positions, cb.capital, cb.r_ratio, cb.top_n_per_market) == (
        2,
        50_000_000,
        0.005,
        30,
    )
    assert (p.tracking.vcp_stop_loss_pct, p.tracking.vcp_hold_days) == (7.0, 5)
    assert p.tracking.round_trip_cost_pct == 0.0
    assert p.tracking.backtest_round_trip_cost_pct == 0.36
    assert (p.market_gate.fx_warning, p.market_gate.fx_danger) == (1_400, 1_450)
    assert not p.market_gate.block_signals_on_red
    assert not p.vcp_legacy.volume_check


def test_p10_preset() -> None:
    p = SignalPolicy.preset("p10")
    assert (p.name, p.extends) == ("p10", "p10")
    assert p.closing_bet.max_positions == 100
    assert p.closing_bet.min_trading_value == 500_000_000
    assert p.closing_bet.grades.s.min_trading_value == 50_000_000_000
    assert p.vcp_legacy.volume_check
    assert p.fingerprint() != SignalPolicy().fingerprint()
    assert set(PRESETS) == {"monolith", "p10"}
    with pytest.raises(ValueError):
        SignalPolicy.preset("improved")


def test_partial_overrides_merge_deeply() -> None:
    base = SignalPolicy.preset("monolith")
    p = base.merged(
        {"name": "wider", "closing_bet": {"max_positions": 10, "grades": {"b": {"min_score": 7}}}}
    )
    assert p.closing_bet.max_positions == 10
    assert p.closing_bet.grades.b.min_score == 7
    assert p.closing_bet.grades.b.min_trading_value == 100_000_000_000  # untouched sibling
    assert p.closing_bet.grades.a == base.closing_bet.grades.a
    assert base.closing_bet.max_positions == 2  # the preset is not mutated
    with pytest.raises(ValidationError):
        base.merged({"closing_bet": {"max_positon": 3}})  # typo → rejected
    with pytest.raises(ValidationError):
        base.merged({"closing_bet": {"r_ratio": 0.5}})  # out of bounds
    with pytest.raises(ValidationError):
        base.merged({"name": "Not A Label"})
    with pytest.raises(ValidationError):
        base.model_copy().__setattr__("name", "x")


def test_loading_yaml_json_and_files(tmp_path: Path) -> None:
    yaml_text = """
name: p10-tight
extends: p10
closing_bet:
  max_positions: 20
tracking:
  closing_use_intraday_extremes: true
"""
    p = SignalPolicy.from_text(yaml_text)
    assert p.extends == "p10" and p.closing_bet.max_positions == 20
    assert p.closing_bet.min_trading_value == 500_000_000  # from the p10 preset
    assert p.tracking.closing_use_intraday_extremes
    f = tmp_path / "policy.yaml"
    f.write_text(yaml_text, encoding="utf-8")
    assert SignalPolicy.from_file(f) == p
    j = tmp_path / "policy.json"
    j.write_text(json.dumps({"market_gate": {"block_signals_on_red": True}}), encoding="utf-8")
    q = SignalPolicy.from_file(j)
    assert q.market_gate.block_signals_on_red and q.extends == "monolith"
    assert SignalPolicy.from_text("") == SignalPolicy()
    with pytest.raises(ValueError):
        SignalPolicy.from_mapping(["not", "a", "mapping"])  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        SignalPolicy.from_text('{"extends": "nope"}', "json")


def test_round_trip_and_fingerprint_stability() -> None:
    p = SignalPolicy.preset("p10").merged({"closing_bet": {"max_positions": 7}})
    again = SignalPolicy.from_mapping(json.loads(json.dumps(p.model_dump(mode="json"))))
    assert again == p and again.fingerprint() == p.fingerprint()
    data = json.loads(p.canonical_json())
    assert "name" not in data and "closing_bet" in data
    assert p.fingerprint() == hashlib.sha256(p.canonical_json().encode()).hexdigest()
    # Labels do not change the rules' identity; any number does.
    assert p.merged({"name": "other", "description": "x"}).fingerprint() == p.fingerprint()
    assert p.merged({"closing_bet": {"max_positions": 8}}).fingerprint() != p.fingerprint()
    assert len(p.fingerprint()) == 64


def _walk(schema: dict[str, Any], defs: dict[str, Any], path: str = "") -> list[str]:
    """Property paths of the schema, resolving $ref into $defs."""
    problems: list[str] = []
    for key, prop in schema.get("properties", {}).items():
        where = f"{path}.{key}"
        if not re.fullmatch(r"[a-z][a-z0-9_]*", key):
            problems.append(f"not snake_case: {where}")
        if "description" not in prop:
            problems.append(f"no description: {where}")
        ref = prop.get("$ref") or next(
            (a.get("$ref") for a in prop.get("anyOf", []) if "$ref" in a), None
        )
        if ref:
            problems += _walk(defs[ref.split("/")[-1]], defs, where)
    return problems


def test_json_schema_is_crd_ready() -> None:
    schema = SignalPolicy.model_json_schema()
    defs = schema.get("$defs", {})
    cb = defs["ClosingBetPolicy"]["properties"]
    assert cb["min_trading_value"]["minimum"] == 0
    assert cb["max_positions"]["minimum"] == 1 and cb["max_positions"]["maximum"] == 1000
    assert defs["ClosingBetPolicy"]["additionalProperties"] is False
    mine = (
        "ClosingBetPolicy",
        "GradeTable",
        "GradeRule",
        "VolumeTier",
        "MarketGatePolicy",
        "SectorSpec",
        "TrackingPolicy",
    )
    # snake_case everywhere (other helpers' sub-policies included: they become the CRD too).
    assert [p for p in _walk(schema, defs) if "snake_case" in p] == []
    # Descriptions on every field of this module's policies and on the top level.
    top = [k for k, v in schema["properties"].items() if "description" not in v]
    assert top == []
    mine_problems = [p for name in mine for p in _walk(defs[name], defs, name)]
    assert mine_problems == []


def test_sub_policies_are_strict() -> None:
    with pytest.raises(ValidationError):
        SignalPolicy(closing_bet={"nope": 1})  # type: ignore[arg-type]
    assert isinstance(SignalPolicy().closing_bet, ClosingBetPolicy)
