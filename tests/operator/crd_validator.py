"""Validate custom resources offline the way the API server does: defaults, schema, CEL rules.

The CRD's ``openAPIV3Schema`` becomes a JSON Schema (``x-kubernetes-int-or-string`` → integer or
string, ``nullable`` → also null, OpenAPI 3.0 boolean exclusive bounds → numeric ones, other
``x-kubernetes-*`` keys dropped, unknown fields rejected as kubectl's strict field validation
does); defaults are applied first, as the server does before validating;
then every ``x-kubernetes-validations`` rule is evaluated with cel-python where its node exists.
Transition rules (``oldSelf``) are not evaluated.
"""

from __future__ import annotations

import copy
from typing import Any

import celpy
import jsonschema

from krstock_operator.structural import apply_defaults


def openapi_schema(crd: dict[str, Any]) -> dict[str, Any]:
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def to_json_schema(node: Any) -> Any:
    if isinstance(node, list):
        return [to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-") or key == "nullable":
            continue
        if key in ("properties", "patternProperties"):
            out[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and isinstance(value, bool):
            continue
        else:
            out[key] = to_json_schema(value)
    for bound, keyword in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if node.get(bound) is True and keyword in node:
            out[bound] = node[keyword]
            out.pop(keyword, None)
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    # kubectl's default field validation (Strict) rejects unknown fields instead of pruning them.
    if (
        "properties" in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


def _rules(schema: dict[str, Any], value: Any, path: str) -> list[tuple[str, str, Any, str]]:
    """(rule, message, value, path) for every CEL rule whose node exists in ``value``."""
    found = [
        (rule["rule"], rule.get("message", rule["rule"]), value, path)
        for rule in schema.get("x-kubernetes-validations", [])
    ]
    if isinstance(value, dict):
        for key, sub in schema.get("properties", {}).items():
            if key in value and value[key] is not None:
                found += _rules(sub, value[key], f"{path}.{key}")
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key in value:
                if key not in schema.get("properties", {}):
                    found += _rules(extra, value[key], f"{path}.{key}")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            found += _rules(schema["items"], item, f"{path}[{i}]")
    return found


_ENV = celpy.Environment()
_PROGRAMS: dict[str, Any] = {}


def _evaluate(rule: str, value: Any) -> bool:
    program = _PROGRAMS.get(rule)
    if program is None:
        program = _PROGRAMS[rule] = _ENV.program(_ENV.compile(rule))
    result = program.evaluate({"self": celpy.json_to_cel(value)})
    if isinstance(result, celpy.CELEvalError):
        raise AssertionError(f"CEL rule {rule!r} failed to evaluate: {result}")
    return bool(result)


def defaulted(crd: dict[str, Any], obj: dict[str, Any]) -> dict[str, Any]:
    return apply_defaults(openapi_schema(crd), copy.deepcopy(obj))


def validate(crd: dict[str, Any], obj: dict[str, Any]) -> list[str]:
    """Every error the API server would report for ``obj`` (an empty list means accepted)."""
    schema = openapi_schema(crd)
    obj = defaulted(crd, obj)
    validator = jsonschema.Draft202012Validator(to_json_schema(schema))
    errors = [
        f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
        for e in validator.iter_errors(obj)
    ]
    if errors:
        return errors
    return [
        f"{path}: {message}"
        for rule, message, value, path in _rules(schema, obj, "")
        if not _evaluate(rule, value)
    ]
