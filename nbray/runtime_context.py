"""`nbray.get_runtime_context()`: who and where the calling code is, as Ray's `RuntimeContext`.

In the driver: the job, the node, the namespace and the runtime's environment. Inside a task or
an actor, also the task's and actor's ids, its worker, the resources it was given and its GPUs.
Ids are hex strings, as in Ray (nbray's are shorter: they only need to be unique in a runtime).
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from nbray.runtime_env import Environment

JOB_ID = "01000000"  # one driver, one job: Ray's first job id


class ContextInfo(NamedTuple):
    """What a backend knows of the calling code (see `Backend.context_info`)."""

    node_id: str
    namespace: str
    worker_id: int
    task_id: int | None = None
    actor_id: int | None = None
    runtime_env: Environment | None = None


class RuntimeContext:
    def __init__(self, backend: Any) -> None:
        self._backend = backend
        self._info: ContextInfo = backend.context_info()

    def get_job_id(self) -> str:
        return JOB_ID

    def get_node_id(self) -> str:
        return self._info.node_id

    def get_worker_id(self) -> str:
        return f"{self._info.worker_id:016x}"

    def get_task_id(self) -> str | None:
        """The running task's id (None in the driver)."""
        return _hex(self._info.task_id)

    def get_actor_id(self) -> str | None:
        """The id of the actor whose method (or constructor) runs (None elsewhere)."""
        return _hex(self._info.actor_id)

    @property
    def namespace(self) -> str:
        return self._info.namespace

    def get_namespace(self) -> str:
        return self._info.namespace

    @property
    def runtime_env(self) -> dict[str, Any]:
        env = self._info.runtime_env
        return env.as_dict() if env is not None else {}

    def get_runtime_env_string(self) -> str:
        return json.dumps(self.runtime_env)

    def get_assigned_resources(self) -> dict[str, float]:
        """The resources the running task (or actor) holds: {} in the driver."""
        if self._info.task_id is None:
            return {}
        return dict(self._backend.assigned_resources(self._info.task_id))

    def get_accelerator_ids(self) -> dict[str, list[str]]:
        return {"GPU": [str(i) for i in self._backend.gpu_ids()]}


def _hex(task_id: int | None) -> str | None:
    return None if task_id is None else f"{task_id:016x}"
