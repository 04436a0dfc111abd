"""ray.util.ActorPool on nbray: four actors share a stream of work, results in order or as done.

.venv/bin/python examples/util/actor_pool.py
"""

import nbray as ray
from nbray.util import ActorPool


@ray.remote
class Scorer:
    def __init__(self, weight: int) -> None:
        self.weight = weight

    def score(self, value: int) -> int:
        return self.weight * value


if __name__ == "__main__":
    ray.init(num_cpus=2)
    pool = ActorPool([Scorer.remote(1) for _ in range(4)])
    print(list(pool.map(lambda actor, value: actor.score.remote(value), range(8))))
    print(sorted(pool.map_unordered(lambda actor, value: actor.score.remote(value), range(8))))
    ray.shutdown()
