"""ray.util.queue.Queue on nbray: a producer task and a consumer actor share a bounded queue.

.venv/bin/python examples/util/queue.py
"""

import nbray as ray
from nbray.util.queue import Empty, Queue


@ray.remote
def produce(queue: Queue, count: int) -> None:
    for item in range(count):
        queue.put(item)  # waits while the queue is full


@ray.remote
class Summer:
    def drain(self, queue: Queue) -> int:
        total = 0
        while True:
            try:
                total += queue.get(timeout=5)
            except Empty:  # the producer is done
                return total


if __name__ == "__main__":
    ray.init(num_cpus=2)
    queue = Queue(maxsize=10)
    produced = produce.remote(queue, 100)
    print(ray.get(Summer.remote().drain.remote(queue)))  # 4950
    ray.get(produced)
    ray.shutdown()
