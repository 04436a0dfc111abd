"""The channel between the driver and a worker: framing, batching, end of stream; and what
travels on it, checked message by message."""

from __future__ import annotations

import pickle
import socket
import threading
from collections.abc import Iterator

import pytest

from nbray.core.task import ErrorInfo, ErrorKind
from nbray.local import protocol
from nbray.local.object_store import InStore
from nbray.local.tasks import TaskBody
from nbray.serialization import FunctionBlob, Serialized, deserialize, serialize


@pytest.fixture
def pair() -> Iterator[tuple[protocol.Channel, protocol.Channel]]:
    ours, theirs = socket.socketpair()
    driver, worker = protocol.Channel(ours), protocol.Channel(theirs)
    yield driver, worker
    driver.close()
    worker.close()


def test_receive_ready_takes_every_message_sent_so_far_in_order(
    pair: tuple[protocol.Channel, protocol.Channel],
) -> None:
    driver, worker = pair
    assert driver.receive_ready() == []  # nothing there: does not block
    for i in range(100):  # (small writes: the socket buffer holds ~200)
        worker.send(protocol.Output(i, "stdout", f"line {i}\n"))
    received = driver.receive_ready()
    assert [m.task_id for m in received] == list(range(100))
    assert not driver.at_eof


def test_a_message_split_across_reads_is_kept_until_it_is_whole(
    pair: tuple[protocol.Channel, protocol.Channel],
) -> None:
    driver, worker = pair
    data = pickle.dumps(protocol.WorkerReady(42), protocol=5)
    framed = len(data).to_bytes(8, "little") + data
    worker._socket.sendall(framed[:5])  # part of the length
    assert driver.receive_ready() == []
    worker._socket.sendall(framed[5:-1])  # all but the last byte
    assert driver.receive_ready() == []
    worker._socket.sendall(framed[-1:])
    assert driver.receive_ready() == [protocol.WorkerReady(42)]


def test_large_messages_cross_whole(pair: tuple[protocol.Channel, protocol.Channel]) -> None:
    driver, worker = pair
    text = "x" * 3_000_000  # many socket buffers' worth: read while it is written
    sent = protocol.Output(1, "stdout", text)
    writer = threading.Thread(target=worker.send, args=(sent,))
    writer.start()
    assert driver.receive() == sent
    writer.join()


def test_end_of_stream_comes_after_the_last_messages(
    pair: tuple[protocol.Channel, protocol.Channel],
) -> None:
    driver, worker = pair
    worker.send(protocol.WorkerReady(1))
    worker.send(protocol.WorkerReady(2))
    worker.close()
    assert driver.receive_ready() == [protocol.WorkerReady(1), protocol.WorkerReady(2)]
    assert driver.receive_ready() == []  # (the loop reads again when epoll says so)
    assert driver.at_eof
    with pytest.raises(EOFError):
        driver.receive()


def test_blocking_receive_returns_messages_one_at_a_time(
    pair: tuple[protocol.Channel, protocol.Channel],
) -> None:
    driver, worker = pair
    driver.send(protocol.Setup(["/a"], "/", "node", "namespace"))
    driver.send(protocol.Allocated(3, 4096, ""))
    assert worker.receive() == protocol.Setup(["/a"], "/", "node", "namespace")
    assert worker.receive() == protocol.Allocated(3, 4096, "")


def test_the_messages_of_every_task_cross_intact(
    pair: tuple[protocol.Channel, protocol.Channel],
) -> None:
    """ExecuteTask and TaskDone travel as plain tuples: they must come back as they were."""
    driver, worker = pair
    function = FunctionBlob(b"id", b"code", "f", (7,))
    body = TaskBody(function, serialize(((1, "a"), {"k": 2.0})), 2, True, "method", False, 4)
    resolved = {5: serialize([1, 2]), 6: InStore(4096, 8192, 100, (), (), ())}
    execute = protocol.ExecuteTask(9, "f", body, resolved, (0,))
    driver.send(execute)
    assert worker.receive() == execute
    done = protocol.TaskDone(9, (serialize("result"), InStore(8192, 4096, 10, (), (), (3,))))
    worker.send(done)
    (received,) = driver.receive_ready()
    assert received == done
    assert type(received.values[0]) is Serialized
    assert deserialize(received.values[0]) == "result"
    error = protocol.TaskError(9, ErrorInfo(ErrorKind.TASK_ERROR, "boom"), serialize(None))
    worker.send(error)
    assert driver.receive_ready() == [error]


def _made_in_main() -> int:
    return 1


def test_plain_values_take_the_fast_pickler_and_others_do_not() -> None:
    plain = ((1, "a", None, 2.5, b"x"), {"k": [1, 2]})
    assert deserialize(serialize(plain)) == plain
    # Anything not plain (here a function, inside a container or as a dict key) goes by value
    # through cloudpickle, as it must for code defined in a notebook.
    _made_in_main.__module__ = "__main__"
    try:
        for value in ([_made_in_main], {_made_in_main: 1}, ((), {"f": _made_in_main})):
            assert b"cloudpickle" in serialize(value).data
    finally:
        _made_in_main.__module__ = __name__
