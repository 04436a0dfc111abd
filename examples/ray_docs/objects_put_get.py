"""Objects guide (001): put, get, get of a list, get with a timeout."""

import time  # nbray: the docs' snippet uses time without importing it

import ray  # nbray: the docs' snippet assumes it

# Put an object in Ray's object store.
y = 1
object_ref = ray.put(y)

# Get the value of one object ref.
obj_ref = ray.put(1)
assert ray.get(obj_ref) == 1

# Get the values of multiple object refs in parallel.
assert ray.get([ray.put(i) for i in range(3)]) == [0, 1, 2]

# You can also set a timeout to return early from a ``get``
# that's blocking for too long.
from ray.exceptions import GetTimeoutError

@ray.remote
def long_running_function():
    time.sleep(2)  # nbray: the docs sleep 8 s

obj_ref = long_running_function.remote()
try:
    ray.get(obj_ref, timeout=0.5)  # nbray: the docs wait 4 s
except GetTimeoutError:
    print("`get` timed out.")
