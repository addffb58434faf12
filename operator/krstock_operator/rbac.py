"""The operator's RBAC: exactly the verbs it uses (the chart's ClusterRole renders these rules).

Kopf lists and watches the two custom resources (and the CRDs, to notice them appear), patches them
for its bookkeeping and their status subresources; the operator lists, creates, merge-patches and
deletes its children (never get, update or deletecollection) and creates Events.
"""

from __future__ import annotations

from typing import Any

from krstock_operator import GROUP

CHILD_VERBS = ["list", "create", "patch", "delete"]

RULES: list[dict[str, Any]] = [
    {
        "apiGroups": [GROUP],
        "resources": ["scanjobs", "signalpolicies"],
        "verbs": ["list", "watch", "patch"],
    },
    {
        "apiGroups": [GROUP],
        "resources": ["scanjobs/status", "signalpolicies/status"],
        "verbs": ["patch"],
    },
    {"apiGroups": [""], "resources": ["configmaps"], "verbs": CHILD_VERBS},
    {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": CHILD_VERBS},
    {"apiGroups": ["batch"], "resources": ["cronjobs", "jobs"], "verbs": CHILD_VERBS},
    {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": CHILD_VERBS},
    {"apiGroups": ["keda.sh"], "resources": ["scaledobjects"], "verbs": CHILD_VERBS},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
    {
        "apiGroups": ["apiextensions.k8s.io"],
        "resources": ["customresourcedefinitions"],
        "verbs": ["list", "watch"],
    },
]


def granted(rules: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    """(apiGroup, resource, verb) triples a list of PolicyRules grants."""
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
