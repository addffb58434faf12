"""Policy files in the three accepted shapes (a SignalPolicy resource, a bare spec, the API's
body), and errors that name the file and the field (docs/policies.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from krstock.domain.policy import PolicyFileError, SignalPolicy

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_the_shipped_resources_load() -> None:
    default = SignalPolicy.from_file(EXAMPLES / "signalpolicy-default.yaml")
    assert default.name == "krstock-default"
    assert default.fingerprint() == SignalPolicy().fingerprint()
    tighter = SignalPolicy.from_file(EXAMPLES / "signalpolicy-tighter-vcp.yaml")
    assert (tighter.name, tighter.extends, tighter.vcp.min_contractions) == (
        "tighter-vcp",
        "p10",
        3,
    )
    assert tighter.closing_bet.max_price == 300000


def test_a_bare_spec_and_the_spec_name_win() -> None:
    bare = SignalPolicy.from_text("extends: p10\nvcp:\n  min_contractions: 3\n")
    assert (bare.name, bare.vcp.min_contractions) == ("p10", 3)
    named = SignalPolicy.from_text("kind: SignalPolicy\nmetadata: {name: a}\nspec: {name: b}\n")
    assert named.name == "b"
    assert SignalPolicy.from_text("") == SignalPolicy()


def test_the_api_body_loads_with_its_sections() -> None:
    body = {
        "name": "monolith",
        "description": "the monolith's defaults",
        "strategies": {"vcp": {"min_contractions": 4}, "tracking": {}},
        "links": {"self": "/api/v1/policies/monolith"},  # the API's own: no rule
    }
    policy = SignalPolicy.from_text(json.dumps(body), "json")
    assert (policy.name, policy.vcp.min_contractions) == ("monolith", 4)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a: [1\n", "p.yaml: not valid YAML: expected ',' or ']'"),
        ("- 1\n- 2\n", "expected a SignalPolicy resource (apiVersion/kind/metadata/spec)"),
        ("kind: ScanJob\nspec: {}\n", "kind: expected SignalPolicy, got 'ScanJob'"),
        ("kind: SignalPolicy\nspecs: {}\n", "unknown top-level fields specs"),
        ("kind: SignalPolicy\nspec:\n  vcp: {min_contractions: x}\n", "spec.vcp.min_contractions"),
        ("kind: SignalPolicy\nspec:\n  vcp: {typo: 1}\n", "spec.vcp.typo: Extra inputs"),
        ("vcp: {typo: 1}\n", "p.yaml: vcp.typo: Extra inputs"),
        ("spec: {extends: p11}\n", "spec.extends: unknown preset 'p11'"),
        ("strategies: [1]\n", "strategies must be a mapping"),
    ],
)
def test_errors_name_the_file_and_the_field(text: str, fragment: str) -> None:
    with pytest.raises(PolicyFileError) as caught:
        SignalPolicy.from_text(text, source="p.yaml")
    assert fragment in str(caught.value) and "\n" not in str(caught.value)
