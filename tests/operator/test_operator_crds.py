"""The CRDs: generated from their sources, structurally valid, and enforcing what they promise."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from crd_validator import defaulted, openapi_schema, validate
from pydantic import BaseModel

from krstock.domain.policy import SignalPolicy
from krstock_operator import crdgen
from krstock_operator.cron import CronError, next_run, parse
from krstock_operator.scanjob_schema import SPEC_SCHEMA
from krstock_operator.spec import parse_spec

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
SCANJOB = crdgen.scanjob_crd()
POLICY = crdgen.signalpolicy_crd()


def _load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_committed_crds_match_the_generator_in_both_places() -> None:
    for name, text in crdgen.generated().items():
        for folder in crdgen.OUTPUTS:
            assert (folder / name).read_text(encoding="utf-8") == text, f"{folder / name} stale"
    assert crdgen.main(["--check"]) == 0


@pytest.mark.parametrize("version", ["1.29.0", "1.30.0", "1.31.0"])
def test_crds_are_valid_customresourcedefinitions(version: str) -> None:
    for crd in (SCANJOB, POLICY):
        kubernetes_validate.validate(crd, version, strict=True)
        spec = crd["spec"]
        assert spec["names"]["categories"] == ["krstock"]
        assert spec["names"]["shortNames"]
        (served,) = spec["versions"]
        assert served["subresources"] == {"status": {}}
        status = served["schema"]["openAPIV3Schema"]["properties"]["status"]
        assert status["x-kubernetes-preserve-unknown-fields"] is True


def test_scanjob_printer_columns() -> None:
    columns = {
        c["name"]: c["jsonPath"] for c in SCANJOB["spec"]["versions"][0]["additionalPrinterColumns"]
    }
    assert columns == {
        "Scanner": ".spec.scanner",
        "Schedule": ".spec.schedule",
        "Phase": ".status.phase",
        "Last Run": ".status.lastRun.finishedAt",
        "Signals": ".status.lastRun.signals",
        "Age": ".metadata.creationTimestamp",
    }


def _structural(node: dict[str, Any], path: str = "") -> None:
    """Every node typed (or int-or-string / preserve-unknown); no unions left over."""
    assert "anyOf" not in node or node.get("x-kubernetes-int-or-string"), path
    assert "$ref" not in node and "allOf" not in node and "oneOf" not in node, path
    assert (
        "type" in node
        or node.get("x-kubernetes-int-or-string")
        or node.get("x-kubernetes-preserve-unknown-fields")
    ), path
    for key, sub in (node.get("properties") or {}).items():
        _structural(sub, f"{path}.{key}")
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            _structural(node[key], f"{path}.{key}")


def test_schemas_are_structural() -> None:
    _structural(openapi_schema(SCANJOB))
    _structural(openapi_schema(POLICY))


def _model_fields(model: type[BaseModel], prefix: str = "") -> set[str]:
    fields = set()
    for name, info in model.model_fields.items():
        fields.add(prefix + name)
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            fields |= _model_fields(annotation, f"{prefix}{name}.")
    return fields


def _schema_fields(node: dict[str, Any], prefix: str = "") -> set[str]:
    fields = set()
    for name, sub in (node.get("properties") or {}).items():
        fields.add(prefix + name)
        if sub.get("type") == "object" and "properties" in sub:
            fields |= _schema_fields(sub, f"{prefix}{name}.")
    return fields


def test_signalpolicy_crd_covers_exactly_the_model_fields() -> None:
    spec = openapi_schema(POLICY)["properties"]["spec"]
    model_fields = _model_fields(SignalPolicy)
    assert len(model_fields) > 50
    assert _schema_fields(spec) == model_fields


def test_signalpolicy_bounds_come_from_the_model() -> None:
    spec = openapi_schema(POLICY)["properties"]["spec"]
    for field_name, info in SignalPolicy.model_fields.items():
        assert spec["properties"][field_name].get("description"), field_name
        assert info.description
    # A pydantic bound (gt/ge/le/lt) shows as a structural bound, exclusive where pydantic's is.
    vcp = spec["properties"]["vcp"]["properties"]
    assert vcp["swing_pct"]["minimum"] == 0 and vcp["swing_pct"]["exclusiveMinimum"] is True
    assert vcp["base_days"]["maximum"] == 250 and "exclusiveMaximum" not in vcp["base_days"]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_are_accepted(path: Path) -> None:
    obj = _load(path)
    crd = SCANJOB if obj["kind"] == "ScanJob" else POLICY
    assert validate(crd, obj) == []
    if obj["kind"] == "SignalPolicy":
        SignalPolicy.from_mapping(obj["spec"])  # the engines accept it too
    else:
        parse_spec(obj["spec"])


def test_required_examples_exist() -> None:
    kinds = [
        (o["kind"], o["spec"].get("scanner"), "schedule" in o["spec"]) for o in map(_load, EXAMPLES)
    ]
    assert ("ScanJob", "vcp", True) in kinds
    assert ("ScanJob", "closing-bet", False) in kinds
    assert ("ScanJob", "daily-pipeline", True) in kinds
    assert any(kind == "SignalPolicy" for kind, _, _ in kinds)


def test_scanjob_defaults_are_applied_like_the_api_server() -> None:
    obj = {"apiVersion": "krstock.io/v1alpha1", "kind": "ScanJob", "metadata": {"name": "a"}}
    obj["spec"] = {"scanner": "vcp"}
    spec = defaulted(SCANJOB, obj)["spec"]
    assert spec["timeZone"] == "Asia/Seoul"
    assert spec["suspend"] is False
    assert spec["universe"] == {"markets": ["KOSPI", "KOSDAQ"]}
    assert spec["workers"]["replicas"] == 1 and spec["workers"]["autoscaling"] == "auto"
    assert spec["successfulJobsHistoryLimit"] == 3 and spec["failedJobsHistoryLimit"] == 1
    assert "schedule" not in spec  # absent means run once
    # The operator reads the same defaults when the server did not apply them.
    parsed = parse_spec({"scanner": "vcp"})
    assert parsed.time_zone == "Asia/Seoul" and parsed.markets == ("KOSPI", "KOSDAQ")
    assert (
        parsed.workers.max_replicas
        == SPEC_SCHEMA["properties"]["workers"]["properties"]["maxReplicas"]["default"]
    )


def test_signalpolicy_keeps_overrides_only() -> None:
    obj = {"apiVersion": "krstock.io/v1alpha1", "kind": "SignalPolicy", "metadata": {"name": "p"}}
    obj["spec"] = {"extends": "p10", "vcp": {"min_contractions": 3}}
    spec = defaulted(POLICY, obj)["spec"]
    # No monolith defaults poured in: the p10 preset must still decide the other values.
    assert spec == {"extends": "p10", "vcp": {"min_contractions": 3}}
    assert defaulted(POLICY, {**obj, "spec": {}})["spec"] == {"extends": "monolith"}


def _scanjob(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "krstock.io/v1alpha1",
        "kind": "ScanJob",
        "metadata": {"name": spec.pop("name", "job")},
        "spec": {"scanner": "vcp", **spec},
    }


BAD_SCANJOBS = [
    (_scanjob(scanner="momentum"), "scanner must be one of"),
    (_scanjob(schedule="10 16 * *"), "five-field cron"),
    (_scanjob(schedule="60 16 * * 1-5"), "five-field cron"),
    (_scanjob(schedule="10 24 * * *"), "five-field cron"),
    (_scanjob(schedule="10 16 32 * *"), "five-field cron"),
    (_scanjob(timeZone=""), "timeZone must not be empty"),
    (_scanjob(universe={"tickers": ["5930"]}), "6-character KRX codes"),
    (_scanjob(universe={"tickers": ["0059301"]}), "is too long"),  # maxLength 6
    (_scanjob(universe={"tickers": ["005930"] * 401}), "is too long"),  # maxItems 400
    (_scanjob(universe={"markets": ["NASDAQ"]}), "markets must be among"),
    (_scanjob(universe={"markets": []}), "at least one market or one ticker"),
    (_scanjob(universe={"topByTradingValue": 0}), "between 1 and 5000"),
    (_scanjob(workers={"minReplicas": 3, "maxReplicas": 2}), "must not exceed"),
    (_scanjob(workers={"replicas": -1}), "at least 0"),
    (_scanjob(workers={"concurrency": 0}), "at least 1"),
    (_scanjob(workers={"autoscaling": "vpa"}), "autoscaling must be one of"),
    (_scanjob(workers={"targetCPUUtilizationPercentage": 101}), "percentage in 1-100"),
    (_scanjob(workers={"resources": {"limits": {"memory": "lots"}}}), "does not match"),
    (_scanjob(queue="heavy"), "queue must be one of collect, scan, ai, maintenance"),
    (_scanjob(policyRef={"name": ""}), "policyRef.name must not be empty"),
    (_scanjob(policyRef={"name": "p" * 44}), "limited to 43 characters"),
    (_scanjob(startingDeadlineSeconds=5), "at least 10"),
    (_scanjob(successfulJobsHistoryLimit=-1), "at least 0"),
    (_scanjob(name="x" * 41), "limited to 40 characters"),
    ({**_scanjob(), "spec": {"schedule": "0 9 * * *"}}, "'scanner' is a required property"),
]


@pytest.mark.parametrize(("obj", "message"), BAD_SCANJOBS)
def test_bad_scanjobs_are_rejected_with_a_clear_message(obj: dict[str, Any], message: str) -> None:
    errors = validate(SCANJOB, obj)
    assert any(message in e for e in errors), errors


@pytest.mark.parametrize(
    "schedule", ["10 16 * * 1-5", "*/5 9-15 * * MON-FRI", "0 0 1 JAN *", "0,30 8 * * 0,6"]
)
def test_good_schedules_pass_the_cel_rule_and_the_parser(schedule: str) -> None:
    assert validate(SCANJOB, _scanjob(schedule=schedule)) == []
    parse(schedule)


def _policy(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "krstock.io/v1alpha1",
        "kind": "SignalPolicy",
        "metadata": {"name": "p"},
        "spec": spec,
    }


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"vcp": {"base_days": 251}}, "greater than the maximum of 250"),
        ({"vcp": {"swing_pct": 0}}, "less than or equal to the minimum of 0"),
        ({"vcp": {"min_contractions": 5, "max_contractions": 3}}, "must not exceed"),
        ({"closing_bet": {"min_price": 9000, "max_price": 1000}}, "must not exceed"),
        ({"extends": "gen3"}, "is not one of"),
        ({"vcp": {"unknown_knob": 1}}, "Additional properties"),
    ],
)
def test_bad_policies_are_rejected(spec: dict[str, Any], message: str) -> None:
    errors = validate(POLICY, _policy(spec))
    assert any(message in e for e in errors), errors


def test_cron_parser_and_next_run() -> None:
    import datetime as dt

    with pytest.raises(CronError, match="outside 0-59"):
        parse("61 * * * *")
    friday_close = dt.datetime(2026, 11, 27, 7, 9, tzinfo=dt.UTC)  # 16:09 KST, a Friday
    first = next_run("10 16 * * 1-5", "Asia/Seoul", friday_close)
    assert first is not None
    assert first.astimezone(dt.UTC) == dt.datetime(2026, 11, 27, 7, 10, tzinfo=dt.UTC)
    after = next_run("10 16 * * 1-5", "Asia/Seoul", friday_close + dt.timedelta(minutes=1))
    assert after is not None and (after.weekday(), after.hour, after.minute) == (0, 16, 10)
    # Day-of-month and day-of-week OR-ed when both are restricted (cron semantics).
    either = next_run("0 9 1 * 1", "UTC", dt.datetime(2026, 11, 27, tzinfo=dt.UTC))
    assert either is not None and either.date() == dt.date(2026, 11, 30)  # Monday before the 1st


def test_policy_example_spec_is_untouched_by_copying() -> None:
    obj = _load(ROOT / "examples" / "signalpolicy-tighter-vcp.yaml")
    before = copy.deepcopy(obj)
    validate(POLICY, obj)
    assert obj == before


def test_signalpolicy_names_fit_the_runs_policy_field() -> None:
    long_name = {**_policy({}), "metadata": {"name": "p" * 44}}
    assert any("limited to 43 characters" in e for e in validate(POLICY, long_name))
    assert validate(POLICY, {**_policy({}), "metadata": {"name": "p" * 43}}) == []
    assert len("/etc/krstock/sp/" + "p" * 43 + ".json") == 64  # the API's policy max_length


# --- backtest parameters: refused at admission what the run would refuse later (issue 13.3) ---


def _backtest(**parameters: str) -> dict[str, Any]:
    return _scanjob(name="bt", scanner="backtest", parameters=parameters)


GOOD_BACKTESTS = [
    {"strategy": "vcp", "start": "2025-01-02", "end": "2025-12-30"},
    {"strategy": "closing-bet", "start": "2025-02-28"},
    {"strategy": "jongga_v2", "start": "2024-02-29", "end": "2024-03-31"},  # monolith spelling
    {"strategy": "vcp-legacy", "start": "2025-06-02", "end": "2025-06-02"},
]
BAD_BACKTESTS = [
    ({"strategy": "momentum", "start": "2025-01-02"}, "backtestable strategy"),
    # trend-template is a scan but the catalogue cannot replay it (no exit rule)
    ({"strategy": "trend-template", "start": "2025-01-02"}, "backtestable strategy"),
    ({"strategy": "VCP ", "start": "2025-01-02"}, "backtestable strategy"),
    ({"strategy": "vcp", "start": "2025-13-01"}, "parameters.start must be a date"),
    ({"strategy": "vcp", "start": "2025-02-30"}, "parameters.start must be a date"),
    ({"strategy": "vcp", "start": "2025-04-31"}, "parameters.start must be a date"),
    ({"strategy": "vcp", "start": "02/01/2025"}, "parameters.start must be a date"),
    ({"strategy": "vcp", "start": "2025-01-02", "end": "yesterday"}, "parameters.end must be"),
    ({"strategy": "vcp", "start": "2025-01-02", "day": "2025-1-2"}, "parameters.day must be"),
    ({"strategy": "vcp", "start": "2025-06-02", "end": "2025-01-02"}, "start must not be after"),
    ({"start": "2025-01-02"}, "needs parameters.strategy and parameters.start"),
    ({"strategy": "vcp"}, "needs parameters.strategy and parameters.start"),
]


@pytest.mark.parametrize("parameters", GOOD_BACKTESTS, ids=lambda p: p.get("strategy"))
def test_good_backtest_parameters_are_admitted_and_the_platform_accepts_them(
    parameters: dict[str, str],
) -> None:
    from krstock.app.runs import RunRequest

    assert validate(SCANJOB, _backtest(**parameters)) == []
    params = {**parameters, "day": parameters.get("end", "2025-12-30")}
    request = RunRequest.parse("backtest", **params)  # what the run does with them
    assert request.strategy is not None and request.start is not None


@pytest.mark.parametrize(("parameters", "message"), BAD_BACKTESTS)
def test_bad_backtest_parameters_are_refused_by_the_cel_rules(
    parameters: dict[str, str], message: str
) -> None:
    errors = validate(SCANJOB, _backtest(**parameters))
    assert any(message in e for e in errors), errors


def test_refused_strategies_and_dates_are_ones_the_run_would_fail_on() -> None:
    """Admission refuses what used to be accepted and failed at run time, with the same verdict."""
    from krstock.app.runs import RunRequest

    for parameters in (
        {"strategy": "momentum", "start": "2025-01-02"},
        {"strategy": "trend-template", "start": "2025-01-02"},
        {"strategy": "vcp", "start": "2025-02-30"},
        {"strategy": "vcp", "start": "2025-01-02", "end": "yesterday"},
    ):
        assert validate(SCANJOB, _backtest(**parameters)) != []
        with pytest.raises(ValueError):
            RunRequest.parse("backtest", **{"end": "2025-12-30", **parameters})


def test_the_crd_lists_exactly_the_catalogues_backtest_strategies() -> None:
    from krstock.app.catalogue import BACKTEST_KINDS
    from krstock.app.kinds import RunKind, parse_kind

    names = crdgen.backtest_strategies()
    assert {parse_kind(n, BACKTEST_KINDS) for n in names} == set(BACKTEST_KINDS)
    assert {str(k) for k in BACKTEST_KINDS} <= set(names)
    assert RunKind.TREND_TEMPLATE not in BACKTEST_KINDS and "trend-template" not in names
    rule = next(
        r["rule"]
        for r in openapi_schema(SCANJOB)["properties"]["spec"]["x-kubernetes-validations"]
        if "strategy" in r["rule"] and " in [" in r["rule"]
    )
    assert all(f"'{n}'" in rule for n in names)


def test_strategy_belongs_to_backtests_and_other_date_parameters_are_checked() -> None:
    wrong_scanner = _scanjob(parameters={"strategy": "vcp"})
    assert any("applies only to scanner: backtest" in e for e in validate(SCANJOB, wrong_scanner))
    collect = _scanjob(scanner="collect", parameters={"start": "2025-01-02", "end": "2025-02-03"})
    assert validate(SCANJOB, collect) == []
    bad_collect = _scanjob(scanner="collect", parameters={"start": "2025-1-2"})
    assert any("parameters.start must be a date" in e for e in validate(SCANJOB, bad_collect))


async def test_the_emulated_api_server_admits_a_good_backtest_and_refuses_a_bad_one() -> None:
    """Through the emulated API server and the real operator: the good ScanJob becomes an
    enqueue Job carrying its parameters; the bad one is refused at creation (the harness
    validates like the API server), so nothing is stored and nothing would run."""
    from operator_harness import SCANJOBS, running_operator

    ns = "t-backtest-params"
    async with running_operator(keda=False) as op:
        good = _backtest(strategy="jongga_v2", start="2025-01-02", end="2025-03-31")
        good["metadata"]["name"] = "bt-good"
        await op.create(good, ns)
        job = await op.wait_for(
            lambda: next(iter(op.all("batch/v1/jobs", ns).values()), None), "the enqueue Job"
        )
        container = job["spec"]["template"]["spec"]["containers"][0]
        command = " ".join([*container.get("command", []), *container.get("args", [])])
        assert "strategy=jongga_v2" in command and "start=2025-01-02" in command

        bad = _backtest(strategy="momentum", start="2025-01-02")
        bad["metadata"]["name"] = "bt-bad"
        with pytest.raises(AssertionError, match="backtestable strategy"):
            await op.create(bad, ns)
        assert op.get(SCANJOBS, ns, "bt-bad") is None
        await op.cleanup()
