"""The Ray-compatible API, run against every backend (local processes and inline)."""

from __future__ import annotations

import pickle
import threading
from typing import Any

import numpy as np
import psutil
import pytest

import nbray
from nbray.core.events import TaskFailed, TaskFinished
from nbray.exceptions import (
    ObjectLostError,
    RayTaskError,
    RemoteTraceback,
    SerializationError,
    TaskUnschedulableError,
)
from tests.contract.helpers import is_inline, most_running_at_once, restart


class CustomError(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(f"code {code}")
        self.code = code


@nbray.remote
def add(a: int, b: int = 0) -> int:
    return a + b


@nbray.remote
def fail(message: str) -> None:
    raise ValueError(message)


@nbray.remote
def fail_custom(code: int) -> None:
    raise CustomError(code)


@nbray.remote
def describe(value: Any) -> str:
    return type(value).__name__


@nbray.remote
def get_inside(refs: list[Any]) -> list[Any]:
    return nbray.get(refs)


# ---- get / put ----------------------------------------------------------------------------


def test_get_one_ref_a_list_and_a_tuple_in_order(ray: Any) -> None:
    refs = [add.remote(i, 10) for i in range(8)]
    assert ray.get(refs[3]) == 13
    assert ray.get(refs) == [10 + i for i in range(8)]
    assert ray.get(tuple(refs[:2])) == [10, 11]
    assert ray.get([]) == []


def test_put_get_round_trip_and_refs_as_arguments(ray: Any) -> None:
    ref = ray.put({"a": [1, 2]})
    assert ray.get(ref) == {"a": [1, 2]}
    assert ray.get(add.remote(ray.put(1), b=ray.put(2))) == 3  # top-level args and kwargs resolved
    assert ray.get(add.remote(add.remote(1, 1), 1)) == 3  # a task's result as an argument


def test_numpy_values_come_back_read_only(ray: Any) -> None:
    array = np.arange(1000, dtype=np.float64)
    value = ray.get(ray.put(array))
    np.testing.assert_array_equal(value, array)
    with pytest.raises(ValueError, match="read-only"):
        value[0] = 1.0


def test_nested_refs_are_passed_as_refs_and_can_be_fetched_inside(ray: Any) -> None:
    refs = [ray.put(i) for i in range(3)]
    assert ray.get(describe.remote(refs)) == "list"
    assert ray.get(describe.remote(refs[0])) == "int"
    assert ray.get(get_inside.remote(refs)) == [0, 1, 2]


def test_nested_objects_keep_their_inner_refs_alive(ray: Any) -> None:
    inner = ray.put("inner")
    outer = ray.put([inner])
    del inner
    (inner_again,) = ray.get(outer)
    assert isinstance(inner_again, nbray.ObjectRef)
    assert ray.get(inner_again) == "inner"


def test_closure_captured_refs_can_be_fetched(ray: Any) -> None:
    captured = ray.put(41)

    @nbray.remote
    def via_capture() -> int:
        return nbray.get(captured) + 1

    assert ray.get(via_capture.remote()) == 42


def test_object_ref_is_hashable_comparable_and_readable(ray: Any) -> None:
    ref = add.remote(1)
    same = pickle.loads(pickle.dumps(ref))
    assert same == ref and hash(same) == hash(ref) and {ref: 1}[same] == 1
    assert "add" in repr(ref) and repr(ray.put(1)).startswith("ObjectRef(")
    assert ref.task_id() is not None and ray.put(1).task_id() is None


@nbray.remote
def by_hand(binaries: list[bytes]) -> tuple[list[Any], int]:
    """Rebuild refs from their bytes (Ray's way of passing refs out of band), then use them."""
    refs = [nbray.ObjectRef(b) for b in binaries]
    ready, _ = nbray.wait(refs, num_returns=len(refs), timeout=60)
    return nbray.get(refs), len(ready)


def test_a_ref_rebuilt_from_its_bytes_names_the_same_object(ray: Any) -> None:
    ref = ray.put("value")
    assert ray.ObjectRef(ref.binary()) == ref == ray.ObjectRef.from_hex(ref.hex())
    assert ray.get(ray.ObjectRef(ref.binary())) == "value"
    two = add.remote(2)  # held here: a ref's bytes alone do not keep its object
    assert ray.get(by_hand.remote([ref.binary(), two.binary()])) == (["value", 2], 2)
    with pytest.raises(TypeError, match=r"ref\.binary\(\)"):
        ray.ObjectRef("not bytes")
    with pytest.raises(ObjectLostError):  # nothing by that id
        ray.get(by_hand.remote([bytes(8)]))
    assert ray.get(add.remote(1)) == 1  # and the runtime is fine


def test_put_of_a_ref_and_unpicklable_values_are_refused_with_the_culprit_named(ray: Any) -> None:
    with pytest.raises(TypeError, match="put"):
        ray.put(ray.put(1))
    lock = threading.Lock()
    with pytest.raises(SerializationError, match=r"at \['conn'\]\[1\].*_thread.lock"):
        ray.put({"conn": [1, lock]})
    with pytest.raises(SerializationError, match="arguments of task add"):
        add.remote(lock)


# ---- errors -------------------------------------------------------------------------------


def test_a_task_error_keeps_its_type_and_carries_the_remote_traceback(ray: Any) -> None:
    ref = fail.remote("boom")
    with pytest.raises(ValueError, match="boom") as info:
        ray.get(ref)
    assert isinstance(info.value, RayTaskError)
    assert type(info.value).__name__ == "RayTaskError(ValueError)"
    cause = info.value.__cause__
    assert isinstance(cause, RemoteTraceback)
    assert "in fail" in str(cause) and "raise ValueError(message)" in str(cause)
    assert "nbray/local" not in str(cause)  # nbray's own frames are hidden


def test_custom_exceptions_keep_type_and_attributes(ray: Any) -> None:
    with pytest.raises(CustomError) as info:
        ray.get(fail_custom.remote(7))
    assert info.value.code == 7


def test_a_failed_argument_fails_the_dependent_task_with_the_same_error(ray: Any) -> None:
    with pytest.raises(ValueError, match="upstream"):
        ray.get(add.remote(fail.remote("upstream")))


@pytest.mark.parametrize("error", [MemoryError("m"), OSError(2, "o"), KeyError("k")])
def test_builtin_errors_with_c_constructors_keep_their_type(ray: Any, error: Exception) -> None:
    @nbray.remote
    def raises() -> None:
        raise error

    with pytest.raises(type(error)) as info:
        ray.get(raises.remote())
    assert isinstance(info.value, RayTaskError) and info.value.args == error.args


def test_system_exit_in_a_task_is_a_task_error_not_an_exit(ray: Any) -> None:
    @nbray.remote
    def exits() -> None:
        raise SystemExit(3)

    with pytest.raises(RayTaskError, match="SystemExit") as info:
        ray.get(exits.remote())
    assert not isinstance(info.value, SystemExit)


def test_an_unpicklable_exception_still_arrives_as_text(ray: Any) -> None:
    @nbray.remote
    def raises_unpicklable() -> None:
        error = RuntimeError("holds a lock")
        error.lock = threading.Lock()  # type: ignore[attr-defined]
        raise error

    with pytest.raises(RayTaskError, match="RuntimeError: holds a lock"):
        ray.get(raises_unpicklable.remote())


def test_an_error_nobody_fetches_is_reported(ray: Any, capsys: pytest.CaptureFixture[str]) -> None:
    ref = fail.remote("nobody looked")
    ray.wait([ref])
    del ref
    ray.events.snapshot()  # a round trip through the runtime: the drop has been handled
    assert "nobody looked" in capsys.readouterr().err


def test_errors_nobody_fetched_are_reported_at_shutdown(
    ray: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    kept = fail.remote("kept but never fetched")
    ray.wait([kept])
    nbray.shutdown()
    assert "kept but never fetched" in capsys.readouterr().err


def test_a_request_no_worker_can_satisfy_fails_at_once_and_says_why(ray: Any) -> None:
    # A deliberate difference from Ray (README): no autoscaler will ever add the node.
    with pytest.raises(TaskUnschedulableError, match="GPU"):
        ray.get(add.options(num_gpus=1).remote(1))
    ref = add.options(resources={"TPU": 1}).remote(1)
    with pytest.raises(TaskUnschedulableError, match=r"TPU: 1 more.*Ray would leave it pending"):
        ray.get(ref)


# ---- wait ---------------------------------------------------------------------------------


def test_wait_returns_ready_and_not_ready_in_input_order(ray: Any) -> None:
    refs = [add.remote(i) for i in range(5)]
    ready, not_ready = ray.wait(refs, num_returns=5)
    assert ready == refs and not_ready == []
    ready, not_ready = ray.wait(refs, num_returns=2, timeout=0)
    assert ready == refs[:2] and not_ready == refs[2:]
    assert ray.wait([]) == ([], [])


def test_failed_refs_count_as_ready_for_wait(ray: Any) -> None:
    ref = fail.remote("x")
    assert ray.wait([ref]) == ([ref], [])


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda r: nbray.wait(r[0]), TypeError, "list of ObjectRefs"),
        (lambda r: nbray.wait([r[0], r[0]]), ValueError, "unique"),
        (lambda r: nbray.wait(r, num_returns=3), ValueError, "between 1 and"),
        (lambda r: nbray.wait(r, num_returns=0), ValueError, "between 1 and"),
        (lambda r: nbray.wait(r, timeout=-1), ValueError, ">= 0"),
        (lambda r: nbray.get(r, timeout=-0.5), ValueError, ">= 0"),
        (lambda r: nbray.get(r, timeout="1"), TypeError, "number of seconds"),
        (lambda r: nbray.get([r[0], 5]), TypeError, "element 1 is a int"),
        (lambda r: nbray.get({"a": r[0]}), TypeError, "got dict"),
        (lambda r: nbray.cancel(5), TypeError, "ObjectRef"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(
    ray: Any, call: Any, error: type, match: str
) -> None:
    refs = [ray.put(1), ray.put(2)]
    with pytest.raises(error, match=match):
        call(refs)


# ---- options ------------------------------------------------------------------------------


def test_num_returns_zero_gives_no_ref_and_the_task_runs(ray: Any) -> None:
    ended = threading.Event()
    outcomes: list[object] = []

    def on_event(event: object) -> None:
        if isinstance(event, (TaskFinished, TaskFailed)):
            outcomes.append(event)
            ended.set()

    unsubscribe = nbray.events.subscribe(on_event)
    assert add.options(num_returns=0).remote(1) is None
    assert ended.wait(60)
    unsubscribe()
    assert [type(e) for e in outcomes] == [TaskFinished]
    assert ray.get(add.remote(1, 2)) == 3


def test_num_returns_gives_one_ref_per_value(ray: Any) -> None:
    @nbray.remote(num_returns=3)
    def three() -> tuple[int, int, int]:
        return 0, 1, 2

    a, b, c = three.remote()
    assert ray.get([a, b, c]) == [0, 1, 2]
    with pytest.raises(ValueError, match="num_returns=2 but returned 3"):
        ray.get(three.options(num_returns=2).remote()[0])


def test_unknown_and_bad_options_are_refused(ray: Any) -> None:
    with pytest.raises(TypeError, match="Did you mean 'num_cpus'"):
        add.options(num_cpu=1)
    with pytest.raises(TypeError, match="Did you mean 'num_cpus'"):
        nbray.remote(num_cpu=2)
    with pytest.raises(TypeError, match="Unknown option 'request'") as refused:
        add.options(request=1)  # a computed attribute of the options, not an option
    assert "request," not in str(refused.value)
    with pytest.raises(ValueError, match=">= 0"):
        add.options(num_cpus=-1)
    with pytest.raises(TypeError, match="keyword arguments"):
        nbray.remote(1, 2)
    with pytest.raises(TypeError, match=r"try 'add.remote\(\)'"):
        add(1)


def test_custom_resources_bound_how_many_tasks_run_together(ray: Any) -> None:
    restart(resources={"token": 1})
    with most_running_at_once() as most:
        refs = [add.options(resources={"token": 1}).remote(i) for i in range(6)]
        assert nbray.get(refs) == list(range(6))
    assert most[0] == 1
    assert _without_memory(nbray.cluster_resources()) == {"CPU": 2.0, "token": 1.0}


# ---- init / shutdown ----------------------------------------------------------------------


def test_init_again_with_the_same_arguments_reuses_the_runtime(ray: Any) -> None:
    info = nbray.init(num_cpus=2, local_mode=is_inline())
    assert info.num_cpus == 2 and nbray.is_initialized()
    with pytest.raises(RuntimeError, match=r"nbray.shutdown\(\) first"):
        nbray.init(num_cpus=1, local_mode=is_inline())
    assert nbray.init(num_cpus=1, ignore_reinit_error=True).num_cpus == 2
    with pytest.raises(TypeError, match="Did you mean 'num_gpus'"):
        nbray.init(num_gpu=1)


@pytest.mark.parametrize(
    ("arguments", "error", "match"),
    [
        ({"num_cpus": 2**20}, ValueError, r"num_cpus=1,048,576 is more than nbray can use"),
        ({"num_cpus": []}, TypeError, "num_cpus must be an integer"),
        ({"num_cpus": -2.0}, ValueError, "num_cpus must be >= 0"),  # a whole float, still < 0
        ({"num_cpus": ""}, TypeError, "num_cpus must be an integer"),
        ({"num_gpus": 1e9}, ValueError, "more than any machine has"),
        ({"num_gpus": float("nan")}, ValueError, "finite number"),
        ({"object_store_memory": 2**63}, ValueError, "bytes of memory here"),
        ({"object_store_memory": 10}, ValueError, "object_store_memory must be >="),
        ({"_system_config": ["spill"]}, TypeError, "_system_config must be a dict"),
        ({"resources": [("a", 1)]}, TypeError, "resources must be a dict"),
    ],
)
def test_init_refuses_what_the_machine_cannot_give_before_starting_anything(
    arguments: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        nbray.init(**arguments)
    assert not nbray.is_initialized()


def test_refs_from_a_shut_down_runtime_fail_at_once(ray: Any) -> None:
    ref = ray.put(1)
    nbray.shutdown()
    assert not nbray.is_initialized()
    with pytest.raises(ObjectLostError, match="shut down"):
        nbray.get(ref)


def test_functions_redefined_in_main_run_their_new_code(ray: Any) -> None:
    results = []
    for body in ("return 'first'", "return 'second'"):
        namespace: dict[str, Any] = {"__name__": "__main__"}
        exec(f"def answer():\n    {body}\n", namespace)
        results.append(ray.get(nbray.remote(namespace["answer"]).remote()))
    assert results == ["first", "second"]


def test_get_timeout_zero_takes_what_is_ready(ray: Any) -> None:
    ref = add.remote(1)
    ray.wait([ref])
    assert ray.get(ref, timeout=0) == 1


# ---- runtime events -----------------------------------------------------------------------


def test_events_tell_a_tasks_life_with_the_callers_context(ray: Any) -> None:
    seen: list[Any] = []
    unsubscribe = nbray.events.subscribe(seen.append)
    nbray.events.set_context_provider(lambda: "cell 7")
    try:
        ok, bad = add.remote(1), fail.remote("e")
        ray.wait([ok, bad], num_returns=2)
        ray.events.snapshot()
    finally:
        nbray.events.set_context_provider(None)
        unsubscribe()
    submitted = [e for e in seen if isinstance(e, nbray.events.TaskSubmitted)]
    assert [e.spec.context for e in submitted] == ["cell 7", "cell 7"]
    ok_task, bad_task = ok.task_id(), bad.task_id()
    life = [
        type(e).__name__
        for e in seen
        if getattr(e, "task_id", None) == ok_task
        or (isinstance(e, nbray.events.TaskSubmitted) and e.spec.task_id == ok_task)
    ]
    assert life == ["TaskSubmitted", "TaskStarted", "TaskFinished", "ObjectCreated"]
    (failure,) = [e for e in seen if isinstance(e, nbray.events.TaskFailed)]
    assert failure.task_id == bad_task and failure.error.type_name == "ValueError"


def test_snapshot_shows_workers_and_resources(ray: Any) -> None:
    ray.get(add.remote(1))
    state = nbray.events.snapshot()
    assert _without_memory(state.total) == {"CPU": 2.0}
    assert len(state.workers) >= 1
    assert _without_memory(nbray.available_resources()) == {"CPU": 2.0}
    store = nbray.cluster_resources()["object_store_memory"]
    assert store == nbray.api.current_backend().config.object_store_memory
    assert 0 < nbray.cluster_resources()["memory"] < psutil.virtual_memory().total - store + 1


def _without_memory(resources: Any) -> dict[str, float]:
    """The resources, without the node's memory and store bytes (Ray counts those too)."""
    return {k: v for k, v in resources.items() if k not in ("memory", "object_store_memory")}


@nbray.remote
def waits_for_ever_by_number(value: Any) -> Any:
    (ready,), _ = nbray.wait([nbray.put(value)], timeout=float("inf"))
    return nbray.get(ready, timeout=1e10)


@pytest.mark.parametrize("forever", [1e10, float("inf"), 2**64])
def test_a_timeout_too_long_for_any_clock_means_no_timeout(ray: Any, forever: float) -> None:
    ref = add.remote(1, 2)
    assert ray.get(ref, timeout=forever) == 3
    ready, _ = ray.wait([ref], timeout=forever)
    assert ready == [ref]
    # Inside a task (the worker asks the driver's loop, which once died of it), twice.
    assert ray.get([waits_for_ever_by_number.remote(i) for i in range(2)]) == [0, 1]
    assert ray.get(add.remote(2, 3)) == 5  # the runtime lives on


@pytest.mark.parametrize(
    ("name", "base"),
    [
        ("OwnerDiedError", "ObjectLostError"),
        ("ObjectFreedError", "ObjectLostError"),
        ("ObjectFetchTimedOutError", "ObjectLostError"),
        ("ObjectReconstructionFailedError", "ObjectLostError"),
        ("OutOfMemoryError", "RayError"),
        ("NodeDiedError", "RayError"),
        ("RaySystemError", "RayError"),
        ("ActorUnavailableError", "RayActorError"),
        ("ActorUnschedulableError", "RayError"),
        ("TaskUnschedulableError", "RayError"),
        ("PendingCallsLimitExceeded", "RayError"),
    ],
)
def test_rays_exception_names_are_importable_with_rays_hierarchy(name: str, base: str) -> None:
    exceptions = nbray.exceptions
    assert issubclass(getattr(exceptions, name), getattr(exceptions, base))
    assert name in exceptions.__all__
