"""Which policy a run uses: a model, a preset name or a YAML/JSON file; errors name the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from krstock.app.policies import resolve_policy
from krstock.domain.policy import SignalPolicy


def test_default_is_the_monolith_preset() -> None:
    assert resolve_policy(None) == SignalPolicy.preset("monolith")


def test_a_policy_object_is_used_as_is() -> None:
    policy = SignalPolicy.preset("p10")
    assert resolve_policy(policy) is policy


def test_a_preset_name() -> None:
    assert resolve_policy("p10").name == "p10"


def test_an_unknown_preset_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown preset 'p11'"):
        resolve_policy("p11")


def test_a_yaml_file_overrides_its_preset(tmp_path: Path) -> None:
    path = tmp_path / "tight.yaml"
    path.write_text("name: tight\nclosing_bet:\n  max_positions: 5\n", encoding="utf-8")
    policy = resolve_policy(str(path))
    assert (policy.name, policy.closing_bet.max_positions) == ("tight", 5)
    assert policy.tracking == SignalPolicy.preset("monolith").tracking


def test_a_missing_policy_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yml"
    with pytest.raises(FileNotFoundError, match=r"nope\.yml"):
        resolve_policy(missing)
