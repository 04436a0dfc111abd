"""The failures the scheduler concludes itself, as data with messages that say what happened,
the likely cause and what to try."""

from __future__ import annotations

import signal

from nbray.core.ids import ObjectId, format_id
from nbray.core.resources import Resources
from nbray.core.task import ErrorInfo, ErrorKind, TaskSpec


def describe_exit(exit_code: int | None) -> str:
    if exit_code is None:
        return "unknown exit status"
    if exit_code < 0:
        try:
            return f"killed by signal {signal.Signals(-exit_code).name}"
        except ValueError:
            return f"killed by signal {-exit_code}"
    return f"exit code {exit_code}"


def worker_crashed(spec: TaskSpec, exit_code: int | None) -> ErrorInfo:
    retries = f" after {spec.max_retries} retries" if spec.max_retries else ""
    return ErrorInfo(
        ErrorKind.WORKER_CRASHED,
        f"The worker running task {spec.name} died ({describe_exit(exit_code)}){retries}. "
        "Likely causes: the task crashed the interpreter (segfault in C code, os._exit, "
        "running out of memory) or the process was killed. Try running the function locally to "
        "see the crash, or raise max_retries if the crash is transient.",
    )


def unschedulable(spec: TaskSpec, total: Resources) -> ErrorInfo:
    missing = ", ".join(
        f"{name}: {amount:g} more" for name, amount in spec.resources.missing_from(total).items()
    )
    return ErrorInfo(
        ErrorKind.UNSCHEDULABLE,
        f"Task {spec.name} requests {dict(spec.resources)} but the runtime has only "
        f"{ {name: total.get(name) for name in spec.resources} } in all ({missing}), so it could "
        "never run. (Ray would leave it pending "
        "for an autoscaler to add a node; one machine has none, so nbray fails it at once.) "
        "Lower the request in .options(...) or start the runtime with more, e.g. "
        "nbray.init(num_cpus=..., resources={...}).",
    )


def object_lost(spec: TaskSpec, oid: ObjectId) -> ErrorInfo:
    return ErrorInfo(
        ErrorKind.OBJECT_LOST,
        f"Argument {format_id(oid)} of task {spec.name} no longer exists (it was freed, or it "
        "belongs to a runtime that was shut down). Keep a reference to objects you pass on.",
        cause_object=oid,
    )


def dependency_failed(spec: TaskSpec, oid: ObjectId, error: ErrorInfo | None) -> ErrorInfo:
    assert error is not None
    return ErrorInfo(
        ErrorKind.DEPENDENCY_FAILED,
        f"Task {spec.name} did not run because its argument {format_id(oid)} failed: "
        f"{error.message}",
        type_name=error.type_name,
        traceback=error.traceback,
        cause_object=oid,
    )


def workers_cannot_start(count: int, exit_code: int | None) -> ErrorInfo:
    return ErrorInfo(
        ErrorKind.WORKERS_CANNOT_START,
        f"{count} worker processes in a row exited while starting "
        f"(last exit: {describe_exit(exit_code)}). Check that the worker's Python "
        "environment can import nbray, then call nbray.shutdown() and nbray.init() again.",
    )


def actor_died(actor_name: str, cause: str) -> ErrorInfo:
    return ErrorInfo(
        ErrorKind.ACTOR_DIED,
        f"The actor {actor_name} is dead: {cause}. Its pending and later method calls fail. "
        "Create a new actor, or give it max_restarts=... to bring it back after a crash.",
    )


def actor_restarting(actor_name: str, cause: str, restarts_left: int) -> ErrorInfo:
    """A call that was running when its actor's process died, while the actor comes back."""
    return ErrorInfo(
        ErrorKind.ACTOR_DIED,  # as Ray: ActorDiedError, even though the actor comes back
        f"The actor {actor_name} crashed while this call ran: {cause}. It is restarting "
        f"({restarts_left} restart(s) left after this one): later calls run on the new instance. "
        "Retry this call if it is safe to run twice.",
    )


ACTOR_EXITED = 0  # the exit code of an actor's worker when a method ended the actor


def actor_crashed_cause(exit_code: int | None) -> str:
    if exit_code == ACTOR_EXITED:
        return "it ended itself (sys.exit(), nbray.actor.exit_actor() or __ray_terminate__)"
    return f"its worker process died ({describe_exit(exit_code)})"
