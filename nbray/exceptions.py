"""nbray's errors, with Ray's names so `except ray.exceptions.X` code runs unchanged.

An exception raised inside a task comes back from `get` as a `RayTaskError` that is also an
instance of the original exception's type (`RayTaskError(ValueError)` is a `ValueError`), with the
remote traceback chained as its `__cause__`, the way `concurrent.futures.process` does it.
"""

from __future__ import annotations

import copy
import functools
from typing import Any


class RayError(Exception):
    """Base of every error nbray raises on purpose."""


class RaySystemError(RayError):
    """nbray itself is in a state it cannot work in (e.g. used after `shutdown()`)."""


class RemoteTraceback(Exception):
    """Carries a task's traceback, formatted in the worker, as the `__cause__` of its error."""

    def __init__(self, traceback_text: str) -> None:
        super().__init__(traceback_text)
        self.traceback_text = traceback_text

    def __str__(self) -> str:
        return f'\n"""\n{self.traceback_text.rstrip()}\n"""'


class RayTaskError(RayError):
    """A task raised an exception. `cause` is that exception, `traceback_str` where it happened."""

    def __init__(
        self,
        function_name: str,
        traceback_str: str,
        cause: BaseException | None,
        cause_type_name: str = "",
        cause_message: str = "",
    ) -> None:
        super().__init__(function_name, traceback_str, cause, cause_type_name, cause_message)
        self.function_name = function_name
        self.traceback_str = traceback_str
        self.cause = cause
        self.cause_type_name = cause_type_name or (type(cause).__name__ if cause else "Exception")
        self.cause_message = cause_message or (str(cause) if cause is not None else "")

    def __reduce__(self) -> tuple[Any, ...]:
        args = (self.function_name, self.traceback_str, self.cause)
        return RayTaskError, (*args, self.cause_type_name, self.cause_message)

    def __str__(self) -> str:
        return f"{self.cause_type_name}: {self.cause_message} (raised in task {self.function_name})"

    def as_instanceof_cause(self) -> RayTaskError:
        """This error as an instance of both `RayTaskError` and the cause's type, if possible.

        Only for `Exception`s: a `SystemExit` or `KeyboardInterrupt` raised in a task must not
        exit or interrupt the caller, so it arrives as a plain `RayTaskError`."""
        if not isinstance(self.cause, Exception) or isinstance(self, type(self.cause)):
            return self
        cls = _task_error_class(type(self.cause))  # type: ignore[arg-type]
        if cls is None:
            return self
        error: RayTaskError
        try:
            error = cls.__new__(cls)
        except TypeError:  # a C base with its own __new__ (MemoryError, OSError): call the class
            try:
                error = cls(*self.__reduce__()[1])
            except Exception:
                return self
        error.__dict__.update(self.__dict__)
        error.args = self.cause.args
        return error

    def with_remote_traceback(self) -> RayTaskError:
        """The error to raise in the caller: typed like the cause, remote traceback chained."""
        error = self.as_instanceof_cause()
        if error is self:  # a new object all the same: the stored one is raised again later
            error = copy.copy(self)
        error.__cause__ = RemoteTraceback(self.traceback_str)
        return error


@functools.cache
def _task_error_class(cause_type: type[BaseException]) -> type[RayTaskError] | None:
    def __getattr__(self: RayTaskError, name: str) -> Any:
        cause = self.__dict__.get("cause")  # attributes of the original error
        if cause is None:
            raise AttributeError(name)
        return getattr(cause, name)

    try:
        cls = type(
            f"RayTaskError({cause_type.__name__})",
            (RayTaskError, cause_type),
            {
                "__getattr__": __getattr__,
                "__str__": RayTaskError.__str__,
                "__init__": RayTaskError.__init__,
            },
        )
    except TypeError:  # e.g. an incompatible C layout: fall back to the plain error
        return None
    cls.__module__ = RayTaskError.__module__
    return cls


class GetTimeoutError(RayError, TimeoutError):
    """`get` ran out of time before the objects were ready."""


class TaskCancelledError(RayError):
    """The task was cancelled before it produced its result."""


class WorkerCrashedError(RayError):
    """The worker process running the task died."""


class ObjectLostError(RayError):
    """The object no longer exists (freed, or from a runtime that was shut down)."""


class OwnerDiedError(ObjectLostError):
    """The process that owned the object is gone (in Ray: its owner worker died)."""


class ObjectFreedError(ObjectLostError):
    """The object was freed explicitly."""


class ObjectFetchTimedOutError(ObjectLostError):
    """The object could not be fetched in time (in Ray: from another node)."""


class ObjectReconstructionFailedError(ObjectLostError):
    """The object was lost and could not be made again."""


class OutOfMemoryError(RayError):
    """The task was killed because the machine ran out of memory."""


class NodeDiedError(RayError):
    """The node running the task died (on one machine: never raised)."""


class PendingCallsLimitExceeded(RayError):
    """Too many calls are pending on an actor (Ray's max_pending_calls)."""


class TaskUnschedulableError(RayError):
    """No worker can ever satisfy the task's resource request."""


class WorkersCannotStartError(RayError):
    """Worker processes exit while starting, so no task can run."""


class SerializationError(RayError, TypeError):
    """A value could not be pickled to send it to a worker or the object store."""


class ObjectStoreFullError(RayError, MemoryError):
    """The object store cannot hold a new object."""


class RayActorError(RayError):
    """An actor could not run a method."""


class ActorDiedError(RayActorError):
    """The actor's process died, or its constructor failed."""


class ActorUnavailableError(RayActorError):
    """The actor cannot run the call now but may later (it is restarting after a crash)."""


class ActorUnschedulableError(RayError):
    """No worker can ever satisfy the actor's resource request."""


__all__ = [
    "ActorDiedError",
    "ActorUnavailableError",
    "ActorUnschedulableError",
    "GetTimeoutError",
    "NodeDiedError",
    "ObjectFetchTimedOutError",
    "ObjectFreedError",
    "ObjectLostError",
    "ObjectReconstructionFailedError",
    "ObjectStoreFullError",
    "OutOfMemoryError",
    "OwnerDiedError",
    "PendingCallsLimitExceeded",
    "RayActorError",
    "RayError",
    "RaySystemError",
    "RayTaskError",
    "RemoteTraceback",
    "SerializationError",
    "TaskCancelledError",
    "TaskUnschedulableError",
    "WorkerCrashedError",
    "WorkersCannotStartError",
]


def raisable(error: RayError) -> BaseException:
    """The exception `get` raises for a stored error: typed like the task's own exception."""
    # A new object at each raise: raising the stored one would tie the caller's frames (and
    # every value they hold) to the store for good, and grow its traceback at every `get`.
    if isinstance(error, RayTaskError):
        return error.with_remote_traceback()
    return copy.copy(error).with_traceback(None)
