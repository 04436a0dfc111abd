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
from nbray.core.resources import Resources

STREAMING = "streaming"


def with_generator_default(function: Any, options: dict[str, Any]) -> dict[str, Any]:
    """A generator function (or method) streams unless told otherwise, as in Ray."""
    if inspect.isgeneratorfunction(function) and "num_returns" not in options:
        return {**options, "num_returns": STREAMING}
    return options


DYNAMIC = "dynamic"  # the older API: one ref to a DynamicObjectRefGenerator of refs
MAX_RETURNS = 10_000  # more refs than any task returns: a guard against typos like 2**63

# Ray options that make no sense on one machine and can be ignored without changing results.
_IGNORED_TASK_OPTIONS = frozenset({"scheduling_strategy", "memory", "label_selector", "_metadata"})
_NOT_YET_TASK_OPTIONS = frozenset({"runtime_env", "accelerator_type", "object_store_memory"})


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
    request: Resources = field(init=False, repr=False, compare=False)  # what it asks for

    def __post_init__(self) -> None:
        # Computed once: read by every task submitted with these options.
        object.__setattr__(self, "request", self.resource_request())

    def updated(self, **options: Any) -> TaskOptions:
        """A copy with `options` applied, each checked; unknown names raise with a suggestion."""
        if isinstance(options.get("retry_exceptions"), list):
            options["retry_exceptions"] = tuple(options["retry_exceptions"])
        new = replace(
            self, **_known_options(self, options, _IGNORED_TASK_OPTIONS, _NOT_YET_TASK_OPTIONS)
        )
        new.check()
        return new

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
        request = Resources.of(self.num_cpus, self.num_gpus, self.resources)
        check_request(self.num_gpus or 0)
        return request


_IGNORED_ACTOR_OPTIONS = frozenset(
    {"lifetime", "namespace", "scheduling_strategy", "memory", "get_if_exists", "_metadata"}
)
_NOT_YET_ACTOR_OPTIONS = frozenset({"max_task_retries", "runtime_env", "accelerator_type"})


@dataclass(frozen=True, slots=True)
class ActorOptions:
    """Options of `@nbray.remote` on a class. An actor holds its resources for its whole life;
    by default none (as in Ray, where an actor's CPU is only needed to place it)."""

    num_cpus: float = 0
    num_gpus: float = 0
    resources: Mapping[str, float] = field(default_factory=dict)
    max_restarts: int = 0
    max_concurrency: int | None = None  # None: 1, or 1000 for an async actor (as Ray)
    name: str = ""

    def updated(self, **options: Any) -> ActorOptions:
        known = _known_options(self, options, _IGNORED_ACTOR_OPTIONS, _NOT_YET_ACTOR_OPTIONS)
        new = replace(self, **known)
        _check_int("max_restarts", new.max_restarts, minimum=-1)
        if new.max_concurrency is not None:
            _check_int("max_concurrency", new.max_concurrency, minimum=1)
        if not isinstance(new.name, str):
            raise TypeError(f"name must be a string, got {new.name!r}.")
        new.as_task_options()  # validates the resources
        return new

    def as_task_options(self) -> TaskOptions:
        """The options of its creation task."""
        task = TaskOptions(
            num_cpus=self.num_cpus, num_gpus=self.num_gpus, resources=self.resources, max_retries=0
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

    @classmethod
    def resolve(
        cls,
        num_cpus: int | None,
        num_gpus: float | None,
        resources: Mapping[str, float] | None,
        local_mode: bool,
        object_store_memory: int | None = None,
        system_config: Mapping[str, Any] | None = None,
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
        )
        config.total()
        return config

    def total(self) -> Resources:
        return Resources.of(self.num_cpus, self.num_gpus, self.resources)

    def describe(self) -> str:
        extra = f", resources={dict(self.resources)}" if self.resources else ""
        mode = ", local_mode=True" if self.local_mode else ""
        store = f", object_store_memory={self.object_store_memory}"
        return f"num_cpus={self.num_cpus}, num_gpus={self.num_gpus:g}{extra}{store}{mode}"


MIN_STORE_MEMORY = 2**20
MAX_GPUS = 1024  # a GPU count beyond any machine's is a typo (and costs memory per device)
CPUS_PER_CPU = 16  # num_cpus may oversubscribe the machine (tasks that wait on I/O), this far


def machine_cpus() -> int:
    """The logical CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def max_cpus() -> int:
    return max(64, CPUS_PER_CPU * machine_cpus())


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


def _known_options(
    defaults: Any, options: dict[str, Any], ignored: frozenset[str], not_yet: frozenset[str]
) -> dict[str, Any]:
    """The options `defaults` (a dataclass of them) knows; Ray's that make no sense here are
    dropped; any other name is refused, suggesting the closest known one."""
    known = {f.name for f in fields(defaults) if f.init}
    where = "an actor" if isinstance(defaults, ActorOptions) else "remote"
    for name in options:
        if name in not_yet:
            raise ValueError(f"nbray does not support the option {name!r} yet.")
        if name not in known and name not in ignored:
            raise TypeError(unknown_option(name, known | ignored, where))
    return {name: value for name, value in options.items() if name in known}


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
