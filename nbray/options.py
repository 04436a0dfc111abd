"""Options of `init` and of remote functions: validated once, with messages that say what to do."""

from __future__ import annotations

import difflib
import inspect
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from nbray.core.gpus import check_request
from nbray.core.resources import MEMORY, OBJECT_STORE_MEMORY, Resources
from nbray.placement import check_label_selector
from nbray.runtime_env import Environment, environment
from nbray.util.scheduling_strategies import check_strategy

STREAMING = "streaming"


def with_generator_default(function: Any, options: dict[str, Any]) -> dict[str, Any]:
    """A generator function (or method) streams unless told otherwise, as in Ray."""
    if inspect.isgeneratorfunction(function) and "num_returns" not in options:
        return {**options, "num_returns": STREAMING}
    return options


DYNAMIC = "dynamic"  # the older API: one ref to a DynamicObjectRefGenerator of refs
MAX_RETURNS = 10_000  # more refs than any task returns: a guard against typos like 2**63

# Ray options that change nothing on one machine: accepted, and dropped.
_IGNORED_OPTIONS = frozenset({"_metadata"})
_NOT_YET_OPTIONS = frozenset({"accelerator_type", "object_store_memory", "concurrency_groups"})


@dataclass(frozen=True, slots=True)
class TaskOptions:
    num_returns: int | str = 1  # or "streaming" (items come as yielded) or "dynamic"
    num_cpus: float = 1
    num_gpus: float = 0
    resources: Mapping[str, float] = field(default_factory=dict)
    max_retries: int = 3
    retry_exceptions: bool | tuple[type[BaseException], ...] = False
    max_calls: int = 0
    name: str = ""
    memory: float = 0  # bytes of the node's "memory" resource it reserves while it runs
    runtime_env: Environment | None = None
    scheduling_strategy: Any = None  # "DEFAULT", "SPREAD", a NodeAffinitySchedulingStrategy
    label_selector: Mapping[str, str] | None = None
    enable_task_events: bool = True  # False: left out of nbray.util.state's listings
    request: Resources = field(init=False, repr=False, compare=False)  # what it asks for

    def __post_init__(self) -> None:
        # Computed once: read by every task submitted with these options.
        object.__setattr__(self, "request", self.resource_request())

    def updated(self, **options: Any) -> TaskOptions:
        """A copy with `options` applied, each checked; unknown names raise with a suggestion."""
        if isinstance(options.get("retry_exceptions"), list):
            options["retry_exceptions"] = tuple(options["retry_exceptions"])
        new = replace(self, **_checked_common(_known_options(self, options)))
        new.check()
        return new

    @property
    def placed(self) -> bool:
        """Whether it names a place to run (see nbray.placement)."""
        return self.scheduling_strategy is not None or bool(self.label_selector)

    @property
    def streaming(self) -> bool:
        return self.num_returns == STREAMING

    @property
    def dynamic(self) -> bool:
        return self.num_returns == DYNAMIC

    def check(self) -> None:
        if not (self.streaming or self.dynamic):
            _check_int("num_returns", self.num_returns, minimum=0)
            if self.num_returns > MAX_RETURNS:  # type: ignore[operator]
                raise ValueError(
                    f"num_returns={self.num_returns} is more than nbray allows "
                    f"({MAX_RETURNS}). For many results, return one list, or yield them from "
                    'a generator with num_returns="streaming".'
                )
        _check_int("max_retries", self.max_retries, minimum=-1)
        _check_int("max_calls", self.max_calls, minimum=0)
        retry = self.retry_exceptions
        if not isinstance(retry, bool) and not (
            isinstance(retry, tuple)
            and all(isinstance(e, type) and issubclass(e, BaseException) for e in retry)
        ):
            raise TypeError(
                "retry_exceptions must be True, False or a list of exception classes, "
                f"got {retry!r}."
            )
        if not isinstance(self.name, str):
            raise TypeError(f"name must be a string, got {self.name!r}.")

    def resource_request(self) -> Resources:
        if not isinstance(self.resources, Mapping):
            raise TypeError(f"resources must be a dict of name -> amount, got {self.resources!r}.")
        request = Resources.of(self.num_cpus, self.num_gpus, self.resources, self.memory)
        check_request(self.num_gpus or 0)
        return request


def _checked_common(options: dict[str, Any]) -> dict[str, Any]:
    """The options tasks and actors share, checked (runtime_env in the form tasks carry)."""
    if "runtime_env" in options:
        options["runtime_env"] = environment(options["runtime_env"])
    if "scheduling_strategy" in options:
        check_strategy(options["scheduling_strategy"])
    if "label_selector" in options:
        check_label_selector(options["label_selector"])
        options["label_selector"] = dict(options["label_selector"] or {}) or None
    if "memory" in options and options["memory"] is None:
        options["memory"] = 0
    events = options.get("enable_task_events", True)
    if not isinstance(events, bool):
        raise TypeError(f"enable_task_events must be True or False, got {events!r}.")
    return options


LIFETIMES = (None, "non_detached", "detached")


@dataclass(frozen=True, slots=True)
class ActorOptions:
    """Options of `@nbray.remote` on a class. An actor holds its resources for its whole life;
    by default none (as in Ray, where an actor's CPU is only needed to place it)."""

    num_cpus: float = 0
    num_gpus: float = 0
    resources: Mapping[str, float] = field(default_factory=dict)
    max_restarts: int = 0
    max_task_retries: int = 0  # how often a call cut short by the actor's death runs again
    max_concurrency: int | None = None  # None: 1, or 1000 for an async actor (as Ray)
    max_pending_calls: int = -1  # unfinished calls a caller may have (-1: any number)
    name: str = ""
    namespace: str | None = None  # of its name (None: the runtime's)
    lifetime: str | None = None  # "detached": lives until killed, not while handles do
    get_if_exists: bool = False  # with a name: the live actor of that name, if there is one
    memory: float = 0
    runtime_env: Environment | None = None
    scheduling_strategy: Any = None
    label_selector: Mapping[str, str] | None = None
    enable_task_events: bool = True

    def updated(self, **options: Any) -> ActorOptions:
        new = replace(self, **_checked_common(_known_options(self, options)))
        _check_int("max_restarts", new.max_restarts, minimum=-1)
        _check_int("max_task_retries", new.max_task_retries, minimum=-1)
        _check_int("max_pending_calls", new.max_pending_calls, minimum=-1)
        if new.max_pending_calls == 0:
            raise ValueError("max_pending_calls must be -1 (no limit) or at least 1, got 0.")
        if new.max_concurrency is not None:
            _check_int("max_concurrency", new.max_concurrency, minimum=1)
        for name in ("name", "namespace"):
            value = getattr(new, name)
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{name} must be a string, got {value!r}.")
        if new.lifetime not in LIFETIMES:
            raise ValueError(
                f"lifetime must be 'detached', 'non_detached' or None, got {new.lifetime!r}."
            )
        if not isinstance(new.get_if_exists, bool):
            raise TypeError(f"get_if_exists must be True or False, got {new.get_if_exists!r}.")
        if new.get_if_exists and not new.name:
            raise ValueError(
                "get_if_exists=True needs a name: .options(name=..., get_if_exists=True)."
            )
        new.as_task_options()  # validates the resources
        return new

    @property
    def detached(self) -> bool:
        return self.lifetime == "detached"

    def as_task_options(self) -> TaskOptions:
        """The options of its creation task."""
        task = TaskOptions(
            num_cpus=self.num_cpus,
            num_gpus=self.num_gpus,
            resources=self.resources,
            max_retries=0,
            memory=self.memory,
            runtime_env=self.runtime_env,
            scheduling_strategy=self.scheduling_strategy,
            label_selector=self.label_selector,
            enable_task_events=self.enable_task_events,
        )
        task.check()
        return task


@dataclass(frozen=True, slots=True)
class RuntimeConfig:
    """What the runtime was started with; `init` compares it to decide reuse or refusal."""

    num_cpus: int
    num_gpus: float
    resources: Mapping[str, float]
    local_mode: bool
    object_store_memory: int = 256 * 2**20
    spill_directory: str | None = None
    runtime_env: Environment | None = None  # every task's and actor's, under their own
    namespace: str | None = None  # of actor names (None: one of the runtime's own)

    @classmethod
    def resolve(
        cls,
        num_cpus: int | None,
        num_gpus: float | None,
        resources: Mapping[str, float] | None,
        local_mode: bool,
        object_store_memory: int | None = None,
        system_config: Mapping[str, Any] | None = None,
        runtime_env: Mapping[str, Any] | None = None,
        namespace: str | None = None,
    ) -> RuntimeConfig:
        if num_cpus is None:
            num_cpus = machine_cpus()
        _check_int("num_cpus", num_cpus, minimum=0)
        _check_at_most("num_cpus", num_cpus, max_cpus(), f"the machine has {machine_cpus()} CPUs")
        if num_gpus is not None:
            _check_at_most("num_gpus", num_gpus, MAX_GPUS, "more than any machine has")
        memory = _memory_size()
        if object_store_memory is None:  # as Ray: 30% of the machine's memory
            object_store_memory = int(memory * 0.3)
        _check_int("object_store_memory", object_store_memory, minimum=MIN_STORE_MEMORY)
        _check_at_most(
            "object_store_memory", object_store_memory, memory, f"{memory:,} bytes of memory here"
        )
        for name, value in (("resources", resources), ("_system_config", system_config)):
            if value is not None and not isinstance(value, Mapping):
                raise TypeError(f"{name} must be a dict, got {type(value).__name__} {value!r:.60}.")
        config = cls(
            int(num_cpus),
            num_gpus or 0,
            dict(resources or {}),
            bool(local_mode),
            int(object_store_memory),
            _spill_directory(system_config or {}),
            environment(runtime_env),
            _check_namespace(namespace),
        )
        config.total()
        return config

    def total(self) -> Resources:
        """What the node has: CPUs, GPUs, custom resources, and (as Ray counts them) the memory
        left beside the object store, and the store's size."""
        node = Resources.of(self.num_cpus, self.num_gpus, self.resources)  # checks the names
        memory = max(_memory_size() - self.object_store_memory, 0)
        return node + Resources({MEMORY: memory, OBJECT_STORE_MEMORY: self.object_store_memory})

    def describe(self) -> str:
        extra = f", resources={dict(self.resources)}" if self.resources else ""
        mode = ", local_mode=True" if self.local_mode else ""
        store = f", object_store_memory={self.object_store_memory}"
        if self.runtime_env is not None:
            extra += f", runtime_env={self.runtime_env.as_dict()}"
        if self.namespace is not None:
            extra += f", namespace={self.namespace!r}"
        return f"num_cpus={self.num_cpus}, num_gpus={self.num_gpus:g}{extra}{store}{mode}"


MIN_STORE_MEMORY = 2**20
MAX_GPUS = 1024  # a GPU count beyond any machine's is a typo (and costs memory per device)
CPUS_PER_CPU = 16  # num_cpus may oversubscribe the machine (tasks that wait on I/O), this far


def machine_cpus() -> int:
    """The logical CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def max_cpus() -> int:
    return max(64, CPUS_PER_CPU * machine_cpus())


def _check_namespace(namespace: object) -> str | None:
    if namespace is not None and (not isinstance(namespace, str) or not namespace):
        raise TypeError(f"namespace must be a non-empty string, got {namespace!r}.")
    return namespace


def _check_at_most(name: str, value: object, limit: int, why: str) -> None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > limit:
        raise ValueError(f"{name}={value:,} is more than nbray can use: at most {limit:,} ({why}).")


def _spill_directory(system_config: Mapping[str, Any]) -> str | None:
    """The directory of Ray's `_system_config={"object_spilling_config": json}`, if given."""
    spilling = system_config.get("object_spilling_config")
    if spilling is None:
        return None
    try:
        parsed = json.loads(spilling) if isinstance(spilling, str) else dict(spilling)
        if parsed.get("type", "filesystem") != "filesystem":
            raise ValueError(f"spilling type {parsed.get('type')!r}")
        directory = parsed["params"]["directory_path"]
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(
            'object_spilling_config must look like \'{"type": "filesystem", "params": '
            f'{{"directory_path": "/some/dir"}}}}\' (nbray spills to local disk only): {error}'
        ) from error
    if isinstance(directory, list):
        directory = directory[0]
    return str(directory)


def _check_int(name: str, value: object, minimum: int) -> None:
    integral_float = isinstance(value, float) and math.isfinite(value) and value.is_integer()
    if not integral_float and (isinstance(value, bool) or not isinstance(value, int)):
        raise TypeError(f"{name} must be an integer, got {value!r}.")
    if value < minimum:  # type: ignore[operator]
        raise ValueError(f"{name} must be >= {minimum}, got {value}.")


def option_names(options: type) -> frozenset[str]:
    """The names a dataclass of options takes."""
    return frozenset(f.name for f in fields(options) if f.init)


def _known_options(defaults: Any, options: dict[str, Any]) -> dict[str, Any]:
    """The options `defaults` (a dataclass of them) knows; Ray's that change nothing here are
    dropped; any other name is refused, suggesting the closest known one."""
    known = option_names(type(defaults))
    actor = isinstance(defaults, ActorOptions)
    for name in options:
        if name in _NOT_YET_OPTIONS:
            raise ValueError(f"nbray does not support the option {name!r} yet.")
        if name not in known and name not in _IGNORED_OPTIONS:
            other = option_names(TaskOptions if actor else ActorOptions)
            if name in other:
                raise ValueError(_for_the_other_kind(name, actor))
            raise TypeError(
                unknown_option(name, known | _IGNORED_OPTIONS, "an actor" if actor else "remote")
            )
    return {name: value for name, value in options.items() if name in known}


def _for_the_other_kind(name: str, actor: bool) -> str:
    if actor:
        return (
            f"The option {name!r} applies to remote functions, not to actors (as in Ray). "
            "For calls that an actor's death cut short, use max_task_retries."
        )
    return f"The option {name!r} applies to actors (@nbray.remote on a class), not to functions."


def all_option_names() -> frozenset[str]:
    """Every option name some `@nbray.remote` takes (the decorator checks these at once)."""
    names = option_names(TaskOptions) | option_names(ActorOptions)
    return names | _IGNORED_OPTIONS | _NOT_YET_OPTIONS


def unknown_option(name: str, known: set[str] | frozenset[str], where: str) -> str:
    """A message for an option nobody knows, suggesting the closest known name."""
    close = difflib.get_close_matches(name, sorted(known), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return f"Unknown option {name!r} for {where}.{hint} Valid options: {', '.join(sorted(known))}."


def _memory_size() -> int:
    """The machine's memory in bytes: from sysconf where there is one (importing psutil would add
    30 ms to every start)."""
    if hasattr(os, "sysconf"):
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    import psutil

    return int(psutil.virtual_memory().total)
