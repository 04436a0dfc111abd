"""Ray's options, on every backend: the decorator and `.options()` take the same set; each is
honoured (runtime_env, memory, scheduling_strategy, label_selector, names, namespaces,
get_if_exists, lifetime) or refused saying why; none is silently ignored."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import nbray
from nbray.exceptions import ActorDiedError, TaskUnschedulableError
from nbray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
from tests.contract.helpers import most_running_at_once, restart


@nbray.remote
def read_env(name: str) -> str | None:
    return os.environ.get(name)


@nbray.remote
def where_am_i() -> tuple[str, list[str]]:
    return os.getcwd(), list(sys.path)


@nbray.remote
def nested_read_env(name: str) -> tuple[str | None, str | None]:
    inner = read_env.options(runtime_env={"env_vars": {"INNER": "yes"}}).remote(name)
    return os.environ.get(name), nbray.get(inner)


@nbray.remote
class Reader:
    def __init__(self, name: str) -> None:
        self.at_start = os.environ.get(name)

    def read(self, name: str) -> tuple[str | None, str | None]:
        return self.at_start, os.environ.get(name)


# ---- one option set, decorator and .options() alike ----------------------------------------

TASK_OPTIONS = {
    "num_cpus": 1,
    "num_gpus": 0,
    "resources": {},
    "memory": 1024,
    "max_calls": 0,
    "max_retries": 1,
    "retry_exceptions": [ValueError],
    "runtime_env": {"env_vars": {"A": "1"}},
    "scheduling_strategy": "SPREAD",
    "label_selector": {},
    "enable_task_events": False,
    "name": "named",
    "_metadata": {},
}
ACTOR_OPTIONS = {
    "num_cpus": 1,
    "memory": 1024,
    "max_restarts": 1,
    "max_task_retries": 2,
    "max_concurrency": 2,
    "max_pending_calls": 10,
    "name": "x",
    "namespace": "ns",
    "lifetime": "detached",
    "get_if_exists": True,
    "runtime_env": {"env_vars": {"A": "1"}},
    "scheduling_strategy": "DEFAULT",
    "label_selector": {},
    "enable_task_events": True,
}


@pytest.mark.parametrize("name", sorted(TASK_OPTIONS))
def test_a_function_takes_each_option_in_the_decorator_as_in_options(name: str) -> None:
    def f() -> None:
        pass

    decorated = nbray.remote(**{name: TASK_OPTIONS[name]})(f)
    assert decorated.options(**{name: TASK_OPTIONS[name]})._options == decorated._options


@pytest.mark.parametrize("name", sorted(ACTOR_OPTIONS))
def test_a_class_takes_each_option_in_the_decorator_as_in_options(name: str) -> None:
    value = ACTOR_OPTIONS[name]
    extra = {"name": "x"} if name == "get_if_exists" else {}

    class C:
        pass

    decorated = nbray.remote(**{name: value, **extra})(C)
    assert decorated.options(**{name: value})._options == decorated._options


def test_options_of_the_other_kind_and_unknown_ones_are_refused_saying_why() -> None:
    with pytest.raises(ValueError, match="applies to actors"):
        nbray.remote(max_task_retries=1)(lambda: None)
    with pytest.raises(ValueError, match="applies to remote functions, not to actors"):
        nbray.remote(max_retries=1)(type("C", (), {}))
    with pytest.raises(TypeError, match="Did you mean 'runtime_env'"):
        nbray.remote(runtime_envs={})
    with pytest.raises(ValueError, match="lifetime must be"):
        nbray.remote(lifetime="forever")(type("C", (), {}))
    with pytest.raises(ValueError, match="needs a name"):
        nbray.remote(get_if_exists=True)(type("C", (), {}))
    with pytest.raises(ValueError, match="scheduling_strategy must be"):
        read_env.options(scheduling_strategy="ANYWHERE")
    with pytest.raises(TypeError, match="label_selector must be a dict"):
        read_env.options(label_selector={"a": 1})


# ---- runtime_env --------------------------------------------------------------------------


def test_env_vars_from_the_decorator_options_and_init_reach_the_task(ray: Any) -> None:
    @nbray.remote(runtime_env={"env_vars": {"NBRAY_T_A": "decorator"}})
    def read_a() -> str | None:
        return os.environ.get("NBRAY_T_A")

    assert ray.get(read_a.remote()) == "decorator"
    overridden = read_a.options(runtime_env={"env_vars": {"NBRAY_T_A": "options"}})
    assert ray.get(overridden.remote()) == "options"
    assert ray.get(read_env.remote("NBRAY_T_A")) is None  # undone after each task
    restart(runtime_env={"env_vars": {"NBRAY_T_A": "init", "NBRAY_T_B": "b"}})
    assert ray.get(read_env.remote("NBRAY_T_A")) == "init"
    assert ray.get(overridden.remote()) == "options"  # its own first, the runtime's merged in
    with_other = read_env.options(runtime_env={"env_vars": {"NBRAY_T_C": "c"}})
    assert ray.get(with_other.remote("NBRAY_T_B")) == "b"
    assert os.environ.get("NBRAY_T_A") is None  # never the driver's own environment


def test_nested_tasks_and_actors_inherit_the_environment_merged(ray: Any) -> None:
    outer = nested_read_env.options(runtime_env={"env_vars": {"NBRAY_T_OUTER": "o"}})
    assert ray.get(outer.remote("NBRAY_T_OUTER")) == ("o", "o")  # the inner one inherits it
    reader = Reader.options(runtime_env={"env_vars": {"NBRAY_T_R": "r"}}).remote("NBRAY_T_R")
    assert ray.get(reader.read.remote("NBRAY_T_R")) == ("r", "r")  # for the actor's life
    expanded = read_env.options(runtime_env={"env_vars": {"NBRAY_T_P": "${HOME}/x"}})
    assert ray.get(expanded.remote("NBRAY_T_P")) == os.path.expanduser("~") + "/x"


def test_working_dir_and_py_modules_are_local_paths_used_in_place(ray: Any, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "helper_in_working_dir.py").write_text("VALUE = 'from working_dir'\n")
    package = tmp_path / "libs" / "nbray_t_package"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("VALUE = 'from py_modules'\n")

    @nbray.remote
    def use_them() -> tuple[str, str, str]:
        import helper_in_working_dir
        import nbray_t_package

        return os.getcwd(), helper_in_working_dir.VALUE, nbray_t_package.VALUE

    env = {"working_dir": str(work), "py_modules": [str(package)]}
    cwd, *values = ray.get(use_them.options(runtime_env=env).remote())
    assert (cwd, values) == (str(work), ["from working_dir", "from py_modules"])
    cwd_after, path_after = ray.get(where_am_i.remote())
    assert cwd_after != str(work) and str(work) not in path_after  # undone after the task


@pytest.mark.parametrize(
    ("runtime_env", "error", "match"),
    [
        ({"pip": ["requests"]}, ValueError, "kernel's own Python environment"),
        ({"conda": "env"}, ValueError, "%pip install"),
        ({"env_var": {}}, ValueError, "Did you mean 'env_vars'"),
        ({"env_vars": {"N": 1}}, TypeError, "dict of str to str"),
        ({"working_dir": "s3://bucket/dir.zip"}, ValueError, "local paths only"),
        ({"working_dir": "/no/such/dir"}, ValueError, "does not exist"),
        ({"py_modules": ["/no/such/module"]}, ValueError, "does not exist"),
        ("env_vars", TypeError, "must be a dict"),
    ],
)
def test_what_a_runtime_env_cannot_honour_is_refused(
    runtime_env: Any, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        read_env.options(runtime_env=runtime_env)
    if isinstance(runtime_env, dict):
        with pytest.raises(error, match=match):
            nbray.runtime_env.RuntimeEnv(**runtime_env)


def test_runtime_env_class_is_a_dict_of_its_fields(ray: Any) -> None:
    env = nbray.runtime_env.RuntimeEnv(env_vars={"NBRAY_T_K": "v"})
    assert env == {"env_vars": {"NBRAY_T_K": "v"}}
    assert ray.get(read_env.options(runtime_env=env).remote("NBRAY_T_K")) == "v"


# ---- memory, strategies and label selectors on one node --------------------------------------


def test_memory_is_a_resource_of_the_node(ray: Any) -> None:
    node_memory = nbray.cluster_resources()["memory"]
    with pytest.raises(TaskUnschedulableError, match="memory"):
        ray.get(read_env.options(memory=node_memory * 2).remote("X"))
    big = read_env.options(memory=node_memory * 0.6, num_cpus=0.5)
    with most_running_at_once() as most:
        assert ray.get([big.remote("X") for _ in range(4)]) == [None] * 4
    assert most[0] == 1  # two never fit together


def test_scheduling_strategies_and_label_selectors_on_one_node(ray: Any) -> None:
    here = nbray.get_runtime_context().get_node_id()
    assert len(here) == 56
    elsewhere = "f" * 56 if here != "f" * 56 else "e" * 56
    for strategy in (
        None,
        "DEFAULT",
        "SPREAD",
        NodeAffinitySchedulingStrategy(here, soft=False),
        NodeAffinitySchedulingStrategy(elsewhere, soft=True),
    ):
        assert ray.get(read_env.options(scheduling_strategy=strategy).remote("X")) is None
    pinned = read_env.options(scheduling_strategy=NodeAffinitySchedulingStrategy(elsewhere, False))
    with pytest.raises(TaskUnschedulableError, match=f"pinned to node {elsewhere}"):
        ray.get(pinned.remote("X"))
    for selector in ({"ray.io/node-id": here}, {"ray.io/node-id": f"in({elsewhere}, {here})"},
                     {"ray.io/node-id": f"!{elsewhere}"}):  # fmt: skip
        assert ray.get(read_env.options(label_selector=selector).remote("X")) is None
    with pytest.raises(TaskUnschedulableError, match="label_selector"):
        ray.get(read_env.options(label_selector={"zone": "us-east"}).remote("X"))
    lost = Reader.options(scheduling_strategy=NodeAffinitySchedulingStrategy(elsewhere, False))
    with pytest.raises(ActorDiedError, match="pinned to node"):
        ray.get(lost.remote("X").read.remote("X"))


# ---- names, namespaces, lifetimes ----------------------------------------------------------


@nbray.remote
class Box:
    def __init__(self, value: Any) -> None:
        self.value = value

    def get(self) -> Any:
        return self.value


def test_names_are_scoped_by_namespace(ray: Any) -> None:
    first = Box.options(name="box").remote(1)
    second = Box.options(name="box", namespace="other").remote(2)
    assert ray.get(nbray.get_actor("box").get.remote()) == 1
    assert ray.get(nbray.get_actor("box", namespace="other").get.remote()) == 2
    with pytest.raises(ValueError, match="in namespace 'other'"):
        nbray.get_actor("nobody", namespace="other")
    assert nbray.util.list_named_actors() == ["box"]
    everywhere = nbray.util.list_named_actors(all_namespaces=True)
    assert sorted(everywhere, key=str) == sorted(
        [{"name": "box", "namespace": nbray.get_runtime_context().namespace},
         {"name": "box", "namespace": "other"}], key=str)  # fmt: skip
    del first, second


def test_get_if_exists_returns_the_live_actor_without_making_another(ray: Any) -> None:
    made = Box.options(name="once", get_if_exists=True).remote("first")
    again = Box.options(name="once", get_if_exists=True).remote("second")
    assert again == made
    assert ray.get(again.get.remote()) == "first"


def test_a_named_actor_dies_with_its_handles_unless_detached(ray: Any) -> None:
    fleeting = Box.options(name="fleeting").remote(1)
    ray.get(fleeting.__ray_ready__.remote())
    del fleeting  # no handle left: it dies, as in Ray
    gc.collect()
    nbray.events.snapshot()  # a round trip: the runtime has handled the release
    with pytest.raises(ValueError, match="No actor named 'fleeting'"):
        nbray.get_actor("fleeting")
    Box.options(name="kept", lifetime="detached").remote(2)
    gc.collect()
    nbray.events.snapshot()
    kept = nbray.get_actor("kept")
    assert ray.get(kept.get.remote()) == 2
    nbray.kill(kept)
    with pytest.raises(ValueError, match="No actor named 'kept'"):
        nbray.get_actor("kept")
    fresh = Box.options(name="kept").remote(3)  # the name is free again
    assert ray.get(fresh.get.remote()) == 3


@nbray.remote
def make_named(name: str, value: Any) -> Any:
    Box.options(name=name, lifetime="detached").remote(value)
    return nbray.get(nbray.get_actor(name).get.remote())


@nbray.remote
def ask_named(name: str) -> Any:
    return nbray.get(nbray.get_actor(name).get.remote()), nbray.util.list_named_actors()


def test_named_actors_are_made_and_found_inside_tasks(ray: Any) -> None:
    assert ray.get(make_named.remote("from_task", 5)) == 5
    assert ray.get(nbray.get_actor("from_task").get.remote()) == 5
    box = Box.options(name="from_driver").remote(6)
    value, names = ray.get(ask_named.remote("from_driver"))
    assert value == 6 and sorted(names) == ["from_driver", "from_task"]
    with pytest.raises(nbray.exceptions.RayTaskError, match="No actor named 'nobody'"):
        ray.get(ask_named.remote("nobody"))
    nbray.kill(nbray.get_actor("from_task"))
    del box


# ---- the runtime context ---------------------------------------------------------------------


@nbray.remote(num_cpus=0.5, resources={"token": 1})
def context_in_task() -> dict[str, Any]:
    context = nbray.get_runtime_context()
    return {
        "node": context.get_node_id(),
        "task": context.get_task_id(),
        "actor": context.get_actor_id(),
        "resources": context.get_assigned_resources(),
        "namespace": context.namespace,
        "env": context.runtime_env,
    }


@nbray.remote(num_cpus=1)
class ContextActor:
    def __init__(self) -> None:
        self.made_in = nbray.get_runtime_context().get_actor_id()

    def context(self) -> tuple[str | None, str | None, dict[str, float]]:
        context = nbray.get_runtime_context()
        return self.made_in, context.get_actor_id(), context.get_assigned_resources()


def test_runtime_context_in_the_driver_in_tasks_and_in_actors(ray: Any) -> None:
    restart(resources={"token": 1}, namespace="lab")
    driver = nbray.get_runtime_context()
    assert driver.get_task_id() is None and driver.get_actor_id() is None
    assert driver.get_assigned_resources() == {} and driver.namespace == "lab"
    assert driver.get_job_id() == "01000000"
    (node,) = nbray.nodes()
    assert node["NodeID"] == driver.get_node_id() and node["Alive"]
    assert node["Resources"]["CPU"] == 2 and node["Labels"] == {"ray.io/node-id": node["NodeID"]}
    ref = context_in_task.options(runtime_env={"env_vars": {"K": "v"}}).remote()
    seen = ray.get(ref)
    assert seen["node"] == driver.get_node_id() and seen["namespace"] == "lab"
    assert seen["task"] == f"{ref.task_id():016x}" and seen["actor"] is None
    assert seen["resources"] == {"CPU": 0.5, "token": 1.0}
    assert seen["env"] == {"env_vars": {"K": "v"}}
    actor = ContextActor.remote()
    made_in, method_in, resources = ray.get(actor.context.remote())
    assert made_in == method_in == f"{actor.actor_id:016x}"
    assert resources == {"CPU": 1.0}


# ---- retries and limits of actor calls -------------------------------------------------------


@nbray.remote(max_restarts=1, max_task_retries=1)
class Fragile:
    def __init__(self) -> None:
        self.raised = 0

    def crash_once(self, marker: str) -> int:
        if not os.path.exists(marker):
            Path(marker).touch()
            os._exit(1)  # the worker dies mid-call: the actor restarts, the call runs again
        return os.getpid()

    @nbray.method(max_task_retries=2, retry_exceptions=[ValueError])
    def raise_twice(self) -> int:
        self.raised += 1
        if self.raised <= 2:
            raise ValueError(f"attempt {self.raised}")
        return self.raised

    def raise_always(self) -> None:
        raise ValueError("always")


def test_max_task_retries_runs_a_call_again_after_its_actor_restarts(
    local_ray: Any, tmp_path: Path
) -> None:
    fragile = Fragile.remote()
    assert local_ray.get(fragile.crash_once.remote(str(tmp_path / "a"))) > 0
    no_retries = fragile.crash_once.options(max_task_retries=0)
    with pytest.raises(ActorDiedError, match=r"restarting|died"):
        local_ray.get(no_retries.remote(str(tmp_path / "b")))


def test_method_options_retry_exceptions_they_name(ray: Any) -> None:
    fragile = Fragile.remote()
    assert ray.get(fragile.raise_twice.remote()) == 3
    with pytest.raises(ValueError, match="always"):  # not named: not retried
        ray.get(fragile.raise_always.options(max_task_retries=3).remote())
    retried = fragile.raise_always.options(max_task_retries=2, retry_exceptions=True)
    with pytest.raises(ValueError, match="always"):  # retried, and failed each time
        ray.get(retried.remote())
    with pytest.raises(TypeError, match="Unknown option 'max_retries' for an actor method"):
        fragile.raise_always.options(max_retries=1)


@nbray.remote(max_pending_calls=1)
class Limited:
    def wait_at(self, fifo: str) -> str:
        with open(fifo) as gate:
            return gate.read()


def test_max_pending_calls_refuses_a_call_beyond_the_limit(local_ray: Any, tmp_path: Path) -> None:
    fifo = tmp_path / "gate"
    os.mkfifo(fifo)
    limited = Limited.remote()
    first = limited.wait_at.remote(str(fifo))
    with pytest.raises(nbray.exceptions.PendingCallsLimitExceeded, match="max_pending_calls=1"):
        limited.wait_at.remote(str(fifo))
    with open(fifo, "w") as gate:
        gate.write("open")
    assert local_ray.get(first) == "open"
    second = limited.wait_at.remote(str(fifo))  # the first is done: room again
    with open(fifo, "w") as gate:
        gate.write("again")
    assert local_ray.get(second) == "again"


def test_the_example_runs() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "util" / "options.py"
    done = subprocess.run(
        [sys.executable, str(example)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["fast slow", "fast", "True", "['registry'] example"]
