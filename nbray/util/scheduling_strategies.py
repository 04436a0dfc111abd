"""Scheduling strategies, as Ray's `ray.util.scheduling_strategies`.

nbray's runtime is one node, so where a strategy asks for a place the answer is this node:
"DEFAULT" and "SPREAD" run tasks here; `NodeAffinitySchedulingStrategy` to this node's id (see
`nbray.get_runtime_context().get_node_id()`) runs here, and to another node fails the task with
`TaskUnschedulableError` unless `soft=True` (then it runs here, as Ray falls back to any node).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NodeAffinitySchedulingStrategy:
    node_id: str
    soft: bool
    _spill_on_unavailable: bool = False
    _fail_on_unavailable: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.node_id, str):
            raise TypeError(f"node_id must be a node's hex id (a str), got {self.node_id!r}.")
        if not isinstance(self.soft, bool):
            raise TypeError(f"soft must be True or False, got {self.soft!r}.")


STRATEGY_NAMES = ("DEFAULT", "SPREAD")


def check_strategy(strategy: object) -> None:
    if (
        strategy is None
        or strategy in STRATEGY_NAMES
        or isinstance(strategy, NodeAffinitySchedulingStrategy)
    ):
        return
    raise ValueError(
        "scheduling_strategy must be None, 'DEFAULT', 'SPREAD' or a "
        f"NodeAffinitySchedulingStrategy, got {strategy!r}."
    )
