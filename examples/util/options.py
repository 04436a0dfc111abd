"""Ray's options on nbray: a runtime_env, a node affinity, a detached named actor found again
by name (also from a task), and the runtime context.

.venv/bin/python examples/util/options.py
"""

import os

import nbray as ray
from nbray.util.scheduling_strategies import NodeAffinitySchedulingStrategy


@ray.remote(runtime_env={"env_vars": {"MODE": "fast"}})
def mode() -> str:
    return os.environ["MODE"]


@ray.remote
class Registry:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, item: str) -> int:
        self.items.append(item)
        return len(self.items)


@ray.remote
def register(item: str) -> int:
    return ray.get(ray.get_actor("registry").add.remote(item))


if __name__ == "__main__":
    ray.init(num_cpus=2, namespace="example")
    print(
        ray.get(mode.remote()),
        ray.get(mode.options(runtime_env={"env_vars": {"MODE": "slow"}}).remote()),
    )
    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    print(ray.get(mode.options(scheduling_strategy=here).remote()))
    Registry.options(name="registry", lifetime="detached").remote()  # lives without a handle
    print(ray.get([register.remote("a"), register.remote("b")]) in ([1, 2], [2, 1]))
    print(ray.util.list_named_actors(), ray.get_runtime_context().namespace)
    ray.kill(ray.get_actor("registry"))
    ray.shutdown()
