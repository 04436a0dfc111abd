"""Object store overview (002): put, get, wait, refs through tasks, spilling config."""

import numpy as np
import ray

ray.init(  # nbray: the docs' spilling settings, accepted as they are
    object_store_memory=10 * 1024**3,
    _system_config={"object_spilling_config": '{"type":"filesystem","params":{"directory_path":"/tmp/ray_spill"}}'},
)  # nbray: closes the init call above

big = np.zeros((1_000, 1_000))  # nbray: the docs use (10_000, 10_000); smaller until the shared-memory store
ref = ray.put(big)

@ray.remote
def total(arr):
    return arr.sum()

print(ray.get(total.remote(ref)))


@ray.remote  # nbray: the docs leave `task` undefined
def task(i):  # nbray: the docs leave `task` undefined
    return i  # nbray: the docs leave `task` undefined


refs = [task.remote(i) for i in range(100)]
ready, pending = ray.wait(refs, num_returns=10, timeout=5.0)
print(len(ready), "ready,", len(pending), "pending")  # nbray: show the result

@ray.remote
def shift(arr, n):
    return arr + n

@ray.remote
def stats(arr):
    return arr.mean(), arr.std()

shifted = shift.remote(ref, 5)
print(ray.get(stats.remote(shifted)))
