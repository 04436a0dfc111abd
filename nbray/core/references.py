"""Reference counting: an object lives while anything can still reach it.

Something can reach an object while
  - a process (the driver, or a worker) holds an `ObjectRef` to it or a view of its memory
    (a numpy array returned by `get`): `holders`, counted per process, so a worker's death
    releases all it held;
  - another stored object contains a ref to it: `containers`;
  - an unfinished task takes it as an argument, at the top level or nested: `task_holds`;
  - a remote function captured a ref to it in its closure or globals: `pinned`, for good, as in
    Ray ("the object will not be evicted until the job completes").
A pending object is never freed: its task may still make it. When an object is freed, the
objects it contained lose a container and may be freed in turn.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from nbray.core.ids import DRIVER, ObjectId, TaskId, WorkerId
from nbray.core.task import ErrorInfo


class ObjectState(enum.Enum):
    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"


@dataclass(slots=True)
class ObjectRecord:
    state: ObjectState
    holders: dict[WorkerId, int] = field(default_factory=dict)
    containers: int = 0
    task_holds: int = 0
    pinned: bool = False
    contains: tuple[ObjectId, ...] = ()
    size: int = 0
    # Tasks waiting for it to be ready; None until there is one (one object fewer per pending
    # object for the garbage collector to track).
    waiting_tasks: list[TaskId] | None = None
    error: ErrorInfo | None = None

    @property
    def reachable(self) -> bool:
        held = self.holders or self.containers or self.task_holds or self.pinned
        return bool(held) or self.state is ObjectState.PENDING


class References:
    def __init__(self) -> None:
        self.objects: dict[ObjectId, ObjectRecord] = {}

    def create(
        self, oid: ObjectId, state: ObjectState, owner: WorkerId | None, size: int = 0
    ) -> ObjectRecord:
        """A new object, held once by its owner (the ref that `put` or `.remote()` returned),
        or by nobody yet (an item of a stream, which its stream's end holds)."""
        if oid in self.objects:
            raise ValueError(f"Object {oid} was created twice.")
        holders = {} if owner is None else {owner: 1}
        record = self.objects[oid] = ObjectRecord(state, holders, size=size)
        return record

    def adjust(self, holder: WorkerId, oid: ObjectId, delta: int) -> None:
        record = self.objects.get(oid)
        if record is None:
            return  # a ref to an object already freed or never known (another runtime's)
        count = record.holders.get(holder, 0) + delta
        if count > 0:
            record.holders[holder] = count
        else:
            record.holders.pop(holder, None)

    def add_content(self, oid: ObjectId, inner: ObjectId) -> None:
        """`oid` (a stream's end) holds `inner` (an item it yielded) too."""
        self.objects[oid].contains += (inner,)
        self.objects[inner].containers += 1

    def set_contents(self, oid: ObjectId, contained: tuple[ObjectId, ...]) -> None:
        """`oid`'s value holds refs to `contained`: they live at least as long as it does."""
        if not contained:
            return  # most values hold no ref
        known = tuple(c for c in dict.fromkeys(contained) if c in self.objects and c != oid)
        self.objects[oid].contains += known  # a stream's end already holds its items
        for inner in known:
            self.objects[inner].containers += 1

    def hold_for_task(self, oids: tuple[ObjectId, ...], delta: int) -> None:
        for oid in oids:
            record = self.objects.get(oid)
            if record is not None:
                record.task_holds += delta

    def pin(self, oids: tuple[ObjectId, ...]) -> None:
        for oid in oids:
            record = self.objects.get(oid)
            if record is not None:
                record.pinned = True

    def unpin(self, oid: ObjectId) -> None:
        record = self.objects.get(oid)
        if record is not None:
            record.pinned = False

    def forget_holder(self, holder: WorkerId) -> list[ObjectId]:
        """A process died: whatever it held, it holds no more. The objects that lost a hold."""
        touched = [oid for oid, r in self.objects.items() if r.holders.pop(holder, None)]
        return touched

    def collect(self, oid: ObjectId) -> list[ObjectId]:
        """Free `oid` if nothing can reach it, and what it alone kept alive; the freed ids."""
        freed = []
        stack = [oid]
        while stack:
            record = self.objects.get(current := stack.pop())
            if record is None or record.reachable:
                continue
            del self.objects[current]
            freed.append(current)
            for inner in record.contains:
                inner_record = self.objects.get(inner)
                if inner_record is not None:
                    inner_record.containers -= 1
                    stack.append(inner)
        return freed

    def spill_candidates(self, min_size: int) -> list[ObjectId]:
        """Ready objects of at least `min_size` bytes that no worker and no task can be reading
        now, oldest first: their memory may be moved to disk."""
        return [
            oid
            for oid, r in self.objects.items()
            if r.state is ObjectState.READY
            and r.size >= min_size
            and not r.task_holds
            and set(r.holders) <= {DRIVER}
        ]

    def validate(self, task_holds: dict[ObjectId, int]) -> None:
        containers: dict[ObjectId, int] = {}
        for record in self.objects.values():
            for inner in record.contains:
                containers[inner] = containers.get(inner, 0) + 1
        for oid, record in self.objects.items():
            assert record.reachable, f"object {oid} is unreachable but kept"
            assert all(count > 0 for count in record.holders.values()), f"object {oid} holders"
            assert record.containers == containers.get(oid, 0), f"object {oid} containers"
            assert record.task_holds == task_holds.get(oid, 0), f"object {oid} task holds"
