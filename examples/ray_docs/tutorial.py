"""An early tutorial (004): init with resources, remote functions, numpy, put, wait, errors.

The tutorial's cells lost their `@ray.remote` lines and use the API of 2017 (`timeout` in ms);
the lines marked `# nbray:` restore what the text describes.
"""

import ray
import time
import numpy as np

ray.init(num_cpus=2, num_gpus=0, resources={"Custom": 1})  # nbray: "specify num_cpus / num_gpus"


@ray.remote  # nbray: decorator lost from the tutorial's cell
def f(x):
    return x+1

x_id = f.remote(0)
ray.get(x_id)  # 1
print("f.remote(0) ->", ray.get(x_id))  # nbray: show the result


@ray.remote(num_returns=2)  # nbray: num_return_vals=2 in the 2017 API
def f():
    return 1,2

x_id, y_id = f.remote()
ray.get(x_id) #1
print("two returns ->", ray.get([x_id, y_id]))  # nbray: show the result


@ray.remote  # nbray: decorator lost from the tutorial's cell
def f():
    return {'key1': ['value']}

# Get one object ID.
ray.get(f.remote())  # {'key1': ['value']}

# Get a list of object IDs.
ray.get([f.remote() for _ in range(2)])  # [{'key1': ['value']}, {'key1': ['value']}]
print(ray.get([f.remote() for _ in range(2)]))  # nbray: show the result

x_id = ray.put(1)
ray.get(x_id)  # 1


@ray.remote  # nbray: decorator lost from the tutorial's cell
def f(x):
    return x.shape  # nbray: the tutorial's body is empty

x = np.zeros(10 ** 6)

# Alternative 1: Here, x is copied into the object store 10 times.
[f.remote(x) for _ in range(10)]

# Alternative 2: Here, x is copied into the object store once.
x_id = ray.put(x)
[f.remote(x_id) for _ in range(10)]


@ray.remote  # nbray: decorator lost from the tutorial's cell
def f(n):
    time.sleep(n * 0.1)  # nbray: "tasks with different durations"
    return n

# Start 5 tasks with different durations.
results = [f.remote(i) for i in range(5)]
# Block until 4 of them have finished or 2.5 seconds pass.
ready_ids, remaining_ids = ray.wait(results, num_returns=4, timeout=2.5)  # nbray: seconds, not ms
print(len(ready_ids), "of 5 ready")  # nbray: show the result


@ray.remote  # nbray: decorator lost from the tutorial's cell
def f():
    return 10

# Start 5 tasks.
remaining_ids = [f.remote() for i in range(5)]
for _ in range(10):
    # actually this only works when num_returns = 1, otherwise it will 
    # result in a dead kernel since finally the number of remaining IDs 
    # will be 0
    ready_ids, remaining_ids = ray.wait(remaining_ids)
    # Get the available object and do something with it. 
    # Start a new task. The number of remaining IDs will be consistent.
    remaining_ids.append(f.remote())  # nbray: "whenever one task finishes, start a new one"
print("still running:", len(remaining_ids))  # nbray: show the result


@ray.remote  # nbray: decorator lost from the tutorial's cell
def f():
    raise Exception("This task failed!!")
f.remote()  # An error message will be printed in the background.

# Wait for the error to propagate to Redis.
import time
while ray.events.snapshot().tasks:  # nbray: no Redis and no error_info(): wait until the task
    ray.events.snapshot()  # nbray: has failed; its error is then printed on stderr
