"""Fuzz every parameter of the gateway's OpenAPI with control characters (issue 19, item 5).

Each example picks one operation and one of its parameters (path, query, or a JSON body field),
puts a string holding a control character there, fills the other required parameters with
plain values, and asserts a 400 that names the problem: never a 5xx (NUL used to reach
PostgreSQL and come back as a 500). Bounded: 300 examples, a few seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from helpers.api_apps import build_app
from helpers.api_seed import seed
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from krstock.db.session import make_engine

pytestmark = pytest.mark.integration

CONTROLS = [chr(c) for c in range(0x20)] + ["\x7f", "\x85"]
# Text in bodies may hold tabs and line breaks.
BODY_CONTROLS = [c for c in CONTROLS if c not in "\t\n\r"]
PLAIN = {"ticker": "005930", "date": "2026-01-02", "run_id": "x", "kind": "vcp"}


@dataclass(frozen=True)
class Target:
    method: str
    path: str
    params: tuple[tuple[str, str, bool], ...]  # (name, where, required); where: path/query/body


def _targets(openapi: dict[str, Any]) -> list[Target]:
    targets = []
    for path, item in openapi["paths"].items():
        for method, operation in item.items():
            params = tuple(
                (p["name"], p["in"], bool(p.get("required")))
                for p in operation.get("parameters", [])
                if p["in"] in ("path", "query")
            )
            if "requestBody" in operation:
                params += (("message", "body", False),)
            if params:
                targets.append(Target(method.upper(), path, params))
    return targets


@pytest.fixture(scope="module")
def client(
    fresh_database: Callable[[], AbstractContextManager[str]], redis_url: str
) -> Iterator[TestClient]:
    with fresh_database() as url:
        engine = make_engine(url, pool_size=1, max_overflow=1)
        seed(engine, tickers=20, days=80)
        engine.dispose()
        built = build_app("gateway", url, redis_url)
        try:
            with TestClient(built.app) as test_client:
                yield test_client
        finally:
            built.state.close()


def _text_with_control(controls: list[str]) -> st.SearchStrategy[str]:
    plain = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"]))
    return st.tuples(plain, st.sampled_from(controls), plain).map("".join)


def test_control_characters_in_any_parameter_are_400_never_5xx(client: TestClient) -> None:
    targets = _targets(client.get("/openapi.json").json())
    assert len(targets) > 20

    @given(data=st.data())
    @settings(
        max_examples=300,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(data: Any) -> None:
        target = data.draw(st.sampled_from(targets))
        fuzzed = data.draw(st.sampled_from(target.params))
        text = data.draw(_text_with_control(BODY_CONTROLS if fuzzed[1] == "body" else CONTROLS))
        path, query, body = target.path, {}, None
        for name, where, required in target.params:
            value = text if (name, where) == fuzzed[:2] else PLAIN.get(name, "1")
            if where == "path":
                path = path.replace("{" + name + "}", quote(value, safe=""))
            elif where == "query" and (required or (name, where) == fuzzed[:2]):
                query[name] = value
            elif where == "body" and (name, where) == fuzzed[:2]:
                body = {name: value}
        response = client.request(target.method, path, params=query, json=body)
        assert response.status_code < 500, (target.method, path, query, response.text[:200])
        assert response.status_code == 400, (target.method, path, query, response.text[:200])
        assert "control character" in response.text

    run()
