"""Turning values into bytes and back: cloudpickle with pickle protocol 5 out-of-band buffers.

Large buffers (numpy arrays and anything exposing the buffer protocol) are kept out of the pickle
stream, so they can be written once into the object store and read back without copying. While a
value is pickled, every `ObjectRef` inside it is recorded: those are the refs the value contains,
which keep their objects alive.
"""

from __future__ import annotations

import hashlib
import io
import linecache
import marshal
import os
import pickle
import threading
import types
from collections import ChainMap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import cloudpickle

from nbray.core.ids import ObjectId
from nbray.exceptions import SerializationError

# Values of these exact types pickle fastest with the C pickler and never need cloudpickle.
_PLAIN_TYPES = frozenset({type(None), bool, int, float, complex, str, bytes})


class Serialized(NamedTuple):
    """A pickled value: the pickle stream, its out-of-band buffers and the refs it contains.
    (A NamedTuple: it travels in every message, and tuples pickle several times faster.)"""

    data: bytes
    buffers: tuple[pickle.PickleBuffer, ...] = ()
    contained_ids: tuple[ObjectId, ...] = ()

    @property
    def size(self) -> int:
        if not self.buffers:
            return len(self.data)  # most often: no out-of-band buffer
        return len(self.data) + sum(memoryview(b).nbytes for b in self.buffers)


_collector = threading.local()


def record_contained_ref(object_id: ObjectId) -> None:
    """Called by `ObjectRef.__reduce__`: note that the value being pickled holds this ref."""
    found: list[ObjectId] | None = getattr(_collector, "ids", None)
    if found is not None:
        found.append(object_id)


@contextmanager
def _collecting(kind: str) -> Iterator[list[Any]]:
    """What the pickling meanwhile notes under `kind` ("ids": the refs a value holds, "files":
    the files its code comes from); an outer collection gets it too."""
    outer = getattr(_collector, kind, None)
    found: list[Any] = []
    setattr(_collector, kind, found)
    try:
        yield found
    finally:
        setattr(_collector, kind, outer)
        if outer is not None:
            outer.extend(found)


_custom_reducers: dict[type, Callable[[Any], tuple[Any, ...]]] = {}


def register_serializer(
    cls: type, *, serializer: Callable[[Any], Any], deserializer: Callable[[Any], Any]
) -> None:
    """Pickle instances of `cls` as `serializer(obj)`, rebuilt by `deserializer(data)`.

    As in Ray, this applies to values serialized in the process that registers it (call it in a
    task to register it in that worker too); `deserializer` travels with the data, by value.
    """
    if not isinstance(cls, type):
        raise TypeError(f"register_serializer needs a class, got {cls!r}.")
    if not callable(serializer) or not callable(deserializer):
        raise TypeError("serializer and deserializer must be callables.")
    _custom_reducers[cls] = lambda obj: (_rebuild_custom, (deserializer, serializer(obj)))


def deregister_serializer(cls: type) -> None:
    _custom_reducers.pop(cls, None)


def _rebuild_custom(deserializer: Callable[[Any], Any], data: Any) -> Any:
    return deserializer(data)


def _reduce_code(code: types.CodeType) -> tuple[Any, ...]:
    """A code object as CPython's own marshal format, which keeps every field: its file name
    most of all (cloudpickle >= 3.1.3 replaces it by "<dynamic-code>", and with it a traceback's
    `Cell In[N], line L`), its nested code objects' too. The driver and its workers run the same
    interpreter, so marshal's per-version format is no constraint."""
    files: list[str] | None = getattr(_collector, "files", None)
    if files is not None:
        files.append(code.co_filename)
    return marshal.loads, (marshal.dumps(code),)


class _Pickler(cloudpickle.CloudPickler):  # type: ignore[misc]
    # Pickle's own dispatch table (a class attribute: the C pickler reads it when it is made),
    # consulted before cloudpickle's: registered serializers first (live, through the
    # ChainMap), then code objects as nbray keeps them.
    dispatch_table = ChainMap(
        _custom_reducers, {types.CodeType: _reduce_code}, cloudpickle.CloudPickler.dispatch_table
    )


def _dumps(value: Any, buffer_callback: Callable[[pickle.PickleBuffer], None] | None) -> bytes:
    file = io.BytesIO()
    _Pickler(file, protocol=5, buffer_callback=buffer_callback).dump(value)
    return file.getvalue()


def serialize(value: Any, what: str = "value") -> Serialized:
    """Pickle `value`; on failure raise `SerializationError` naming the part that failed.

    `what` says what the value is, for the message: "argument of task f", "put value", ...
    """
    if _is_plain(value):  # the C pickler alone, several times faster than cloudpickle's setup
        return Serialized(pickle.dumps(value, protocol=5))
    buffers: list[pickle.PickleBuffer] = []
    try:
        with _collecting("ids") as contained:
            data = _dumps(value, buffers.append)
    except (Exception, SystemExit) as error:  # (a __reduce__ that exits must not exit us)
        raise _serialization_error(value, what, error) from error
    return Serialized(data, tuple(buffers), tuple(dict.fromkeys(contained)))


def _is_plain(value: Any, depth: int = 2) -> bool:
    """Built of plain values only (looking `depth` containers deep), such as the arguments
    `((1, "a"), {"k": 2.0})`: nothing in it needs cloudpickle or a custom serializer."""
    kind = type(value)
    if kind in _PLAIN_TYPES:
        return kind not in _custom_reducers
    if not depth or _custom_reducers:
        return False
    # Loops, not all() over a generator: this runs for every task's arguments.
    if kind is tuple or kind is list:
        for item in value:  # noqa: SIM110
            if not _is_plain(item, depth - 1):
                return False
        return True
    if kind is dict:
        for key, item in value.items():  # noqa: SIM110
            if not (_is_plain(key, 0) and _is_plain(item, depth - 1)):
                return False
        return True
    return False


def deserialize(serialized: Serialized) -> Any:
    """Unpickle; numpy arrays come back as read-only views on the stored buffers (objects in the
    store are immutable)."""
    if not serialized.buffers:
        return pickle.loads(serialized.data)
    views = [memoryview(b).toreadonly() for b in serialized.buffers]
    return pickle.loads(serialized.data, buffers=views)


def _serialization_error(
    value: Any, what: str, error: Exception | SystemExit
) -> SerializationError:
    path, culprit = _find_unpicklable(value, "")
    where = f" at {path}" if path else ""
    return SerializationError(
        f"Could not serialize the {what}: the object{where} of type "
        f"{type(culprit).__module__}.{type(culprit).__qualname__} cannot be pickled "
        f"({type(error).__name__}: {error}). Objects that hold OS resources (open files, "
        "sockets, locks, database connections, generators) cannot be sent to another process: "
        "create them inside the task instead, pass what is needed to re-create them, or "
        "teach nbray how with nbray.util.register_serializer."
    )


def _find_unpicklable(value: Any, path: str, depth: int = 0) -> tuple[str, Any]:
    """The deepest part of `value` that fails to pickle, and its path from the top."""
    if depth < 6:
        for child_path, child in _children(value, path):
            if not _pickles(child):
                return _find_unpicklable(child, child_path, depth + 1)
    return path, value


def _children(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield f"{path}[{key!r}]", item
    elif isinstance(value, (list, tuple, set, frozenset)):
        for index, item in enumerate(value):
            yield f"{path}[{index}]", item
    elif hasattr(value, "__dict__") and not isinstance(value, type):
        for name, item in vars(value).items():
            yield f"{path}.{name}", item


def _pickles(value: Any) -> bool:
    try:
        _dumps(value, lambda _: None)
    except (Exception, SystemExit):
        return False
    return True


def in_memory_sources(filenames: list[str]) -> dict[str, list[str]]:
    """The lines of the files among `filenames` that exist only in memory (notebook cells,
    `%%remote` bodies), so that tracebacks in workers show their code too."""
    sources = {}
    for filename in dict.fromkeys(filenames):
        if filename and not os.path.exists(filename):
            lines = linecache.getlines(filename)
            if lines:
                sources[filename] = lines
    return sources


def remember_source(filename: str, lines: list[str]) -> None:
    """Make code that exists in no file (a notebook cell) known to linecache, so tracebacks
    formatted in this process show its lines."""
    linecache.cache[filename] = (sum(map(len, lines)), None, lines, filename)


def load_function(data: bytes) -> Any:
    """A function exported by `FunctionBlob.export`, its in-memory source known to linecache."""
    pickled, sources = pickle.loads(data)
    for filename, lines in sources.items():
        remember_source(filename, lines)
    return pickle.loads(pickled)


class FunctionBlob(NamedTuple):
    """A function pickled by value, named by the hash of its bytes: a worker caches it under that
    id, and a function redefined in a later notebook cell gets a new id and runs its new code."""

    function_id: bytes
    data: bytes
    name: str
    captured_ids: tuple[ObjectId, ...] = ()  # refs in its closure or globals

    @classmethod
    def export(cls, function: Callable[..., Any], name: str) -> FunctionBlob:
        try:
            with _collecting("ids") as captured, _collecting("files") as files:
                pickled = _dumps(function, None)
            # The sources go beside the function, for the worker to know them before it loads it.
            data = pickle.dumps((pickled, in_memory_sources(files)), protocol=5)
        except Exception as error:
            raise SerializationError(
                f"Could not serialize the function {name}: {type(error).__name__}: {error}. "
                "A remote function must not capture objects that cannot be pickled (open files, "
                "locks, connections) from its enclosing scope or globals; create them inside it."
            ) from error
        digest = hashlib.blake2b(data, digest_size=16).digest()
        return cls(digest, data, name, tuple(dict.fromkeys(captured)))
