"""Where a task may run: the one node of nbray's runtime, and the options that name a place
(`scheduling_strategy`, `label_selector`). A task that asks for a place this node is not can
never run: it fails with `TaskUnschedulableError` saying why, as one with too large a request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, NamedTuple

from nbray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

NODE_ID_LABEL = "ray.io/node-id"


class Node(NamedTuple):
    """The runtime's node, as Ray names one: a 56-hex-digit id and its labels."""

    node_id: str
    labels: Mapping[str, str]

    @classmethod
    def new(cls) -> Node:
        return cls.of(os.urandom(28).hex())

    @classmethod
    def of(cls, node_id: str) -> Node:
        return cls(node_id, {NODE_ID_LABEL: node_id})


def check_label_selector(selector: object) -> None:
    if selector is None:
        return
    if not isinstance(selector, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in selector.items()
    ):
        raise TypeError(
            f"label_selector must be a dict of label name to str, got {selector!r:.100} "
            '(e.g. {"ray.io/node-id": node_id}, "!value", "in(a,b)", "!in(a,b)").'
        )


def why_not_here(name: str, strategy: Any, selector: Mapping[str, str] | None, node: Node) -> str:
    """Why the task `name` can never run on `node` ("" if it can)."""
    pinned = isinstance(strategy, NodeAffinitySchedulingStrategy) and not strategy.soft
    if pinned and strategy.node_id != node.node_id:
        return (
            f"Task {name} is pinned to node {strategy.node_id} (NodeAffinitySchedulingStrategy "
            f"with soft=False), but nbray's runtime is one node, {node.node_id}. Pin it to "
            "nbray.get_runtime_context().get_node_id(), or pass soft=True."
        )
    for label, wanted in (selector or {}).items():
        if not _matches(node.labels.get(label), wanted):
            return (
                f"Task {name} asks for a node with label_selector {{{label!r}: {wanted!r}}}, "
                f"but nbray's one node has labels {dict(node.labels)}."
            )
    return ""


def _matches(value: str | None, wanted: str) -> bool:
    """Ray's label selector syntax: "v", "!v", "in(a,b)", "!in(a,b)"."""
    negated = wanted.startswith("!")
    wanted = wanted[1:] if negated else wanted
    if wanted.startswith("in(") and wanted.endswith(")"):
        found = value in {v.strip() for v in wanted[3:-1].split(",")}
    else:
        found = value == wanted
    return found != negated
