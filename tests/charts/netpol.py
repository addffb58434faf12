"""A small NetworkPolicy evaluator (networking.k8s.io/v1 semantics) for the chart tests: who may
open a connection to whom, given the policies of the namespaces that have any.

A connection from pod A to port P of pod B is allowed when A's egress allows it (A is selected by
no Egress policy of its namespace, or one of those policies has a rule whose peer matches B and
whose ports match P) and B's ingress allows it (likewise). Peers: ``podSelector`` alone selects in
the policy's namespace, ``namespaceSelector`` alone all pods of the matching namespaces, both
together the intersection, ``ipBlock`` pod addresses inside the block and outside ``except``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Pod:
    name: str
    namespace: str
    labels: dict[str, str]
    ports: dict[str, int] = field(default_factory=dict)  # container port name -> number
    ip: str = "10.244.0.10"


def selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """A label selector; an empty one selects everything."""
    selector = selector or {}
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def namespace_labels(namespace: str) -> dict[str, str]:
    return {"kubernetes.io/metadata.name": namespace}


def peer_matches(peer: dict[str, Any], policy_ns: str, pod: Pod) -> bool:
    if "ipBlock" in peer:
        block = peer["ipBlock"]
        address = ipaddress.ip_address(pod.ip)
        if address not in ipaddress.ip_network(block["cidr"]):
            return False
        return not any(address in ipaddress.ip_network(e) for e in block.get("except", []))
    if "namespaceSelector" in peer:
        if not selects(peer["namespaceSelector"], namespace_labels(pod.namespace)):
            return False
    elif pod.namespace != policy_ns:
        return False
    return "podSelector" not in peer or selects(peer["podSelector"], pod.labels)


def port_matches(ports: list[dict[str, Any]] | None, target: Pod, port: int) -> bool:
    if not ports:
        return True
    for item in ports:
        wanted = item.get("port")
        if wanted is None:
            return True
        if isinstance(wanted, str):
            wanted = target.ports.get(wanted)
        if wanted == port and item.get("protocol", "TCP") == "TCP":
            return True
    return False


def _direction_allows(
    policies: list[dict[str, Any]], subject: Pod, other: Pod, port: int, direction: str
) -> bool:
    kind = direction.capitalize()  # Ingress | Egress
    relevant = [
        p
        for p in policies
        if p["metadata"]["namespace"] == subject.namespace
        and kind in p["spec"].get("policyTypes", ["Ingress"])
        and selects(p["spec"]["podSelector"], subject.labels)
    ]
    if not relevant:
        return True  # isolated in no direction: everything is allowed
    target = other if direction == "egress" else subject  # whose port is being opened
    peer_key = "to" if direction == "egress" else "from"
    for policy in relevant:
        for rule in policy["spec"].get(direction, []):
            peers = rule.get(peer_key)
            peer_ok = not peers or any(
                peer_matches(peer, policy["metadata"]["namespace"], other) for peer in peers
            )
            if peer_ok and port_matches(rule.get("ports"), target, port):
                return True
    return False


def allowed(policies: list[dict[str, Any]], source: Pod, target: Pod, port: int) -> bool:
    return _direction_allows(policies, source, target, port, "egress") and _direction_allows(
        policies, target, source, port, "ingress"
    )
