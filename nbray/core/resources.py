"""Resource amounts (CPUs, GPUs, custom resources) as exact fixed-point numbers.

Fractional requests such as `num_gpus=0.25` must add up exactly, so amounts are kept in units of
1/10000 (as Ray does) and only turned back into floats for people.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping

CPU = "CPU"
GPU = "GPU"
MEMORY = "memory"  # bytes of heap a task reserves (Ray's `memory` option)
OBJECT_STORE_MEMORY = "object_store_memory"
_UNITS = 10_000


MAX_AMOUNT = 1e15  # of any one resource: more than any machine or request will have


class Resources(Mapping[str, float]):
    """An immutable, hashable mapping from resource name to amount."""

    __slots__ = ("_hash", "_units")

    def __init__(self, amounts: Mapping[str, float] | None = None) -> None:
        units: dict[str, int] = {}
        for name, amount in (amounts or {}).items():
            _check_amount(name, amount)
            if amount:
                units[name] = round(amount * _UNITS)
        self._units = units
        self._hash: int | None = None  # computed when first asked: most sums are never hashed

    @classmethod
    def _from_units(cls, units: dict[str, int]) -> Resources:
        new = cls.__new__(cls)
        new._units = {name: amount for name, amount in units.items() if amount}
        new._hash = None
        return new

    @classmethod
    def of(
        cls,
        num_cpus: float | None = 0,
        num_gpus: float | None = 0,
        custom: Mapping[str, float] | None = None,
        memory: float = 0,
    ) -> Resources:
        amounts = dict(custom or {})
        for reserved, option in _OPTION_OF.items():
            if reserved in amounts:
                raise ValueError(f"Use {option}= for {reserved!r}, not the resources= dict.")
        amounts[CPU] = num_cpus or 0
        amounts[GPU] = num_gpus or 0
        if memory:
            amounts[MEMORY] = memory
        return cls(amounts)

    def fits_in(self, available: Resources) -> bool:
        units = available._units
        for name, amount in self._units.items():  # noqa: SIM110 (all() with a generator: slower)
            if units.get(name, 0) < amount:
                return False
        return True

    def __add__(self, other: Resources) -> Resources:
        units = dict(self._units)
        for name, amount in other._units.items():
            units[name] = units.get(name, 0) + amount
        return Resources._from_units(units)

    def __sub__(self, other: Resources) -> Resources:
        units = dict(self._units)
        for name, amount in other._units.items():
            units[name] = units.get(name, 0) - amount
        return Resources._from_units(units)

    def missing_from(self, total: Resources) -> dict[str, float]:
        """What of this request `total` can never provide, by resource name."""
        return {
            name: (amount - total._units.get(name, 0)) / _UNITS
            for name, amount in self._units.items()
            if amount > total._units.get(name, 0)
        }

    def get(self, name: str, default: float = 0.0) -> float:  # type: ignore[override]
        units = self._units.get(name)  # no KeyError on the hot path (Mapping.get raises one)
        return default if units is None else units / _UNITS

    def __getitem__(self, name: str) -> float:
        return self._units[name] / _UNITS

    def __iter__(self) -> Iterator[str]:
        return iter(self._units)

    def __len__(self) -> int:
        return len(self._units)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._units.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Resources):
            return self._units == other._units
        if isinstance(other, Mapping):
            return dict(self) == dict(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"Resources({dict(self)})"


_OPTION_OF = {
    CPU: "num_cpus",
    GPU: "num_gpus",
    MEMORY: "memory",
    OBJECT_STORE_MEMORY: "object_store_memory",
}


def _check_amount(name: str, amount: float) -> None:
    if not isinstance(name, str) or not name:
        raise TypeError(f"Resource names must be non-empty strings, got {name!r}.")
    if isinstance(amount, bool) or not isinstance(amount, (int, float)):
        raise TypeError(f"Resource {name!r} must be a number, got {amount!r}.")
    if not math.isfinite(amount) or amount < 0:
        raise ValueError(f"Resource {name!r} must be a finite number >= 0, got {amount!r}.")
    if amount > MAX_AMOUNT:  # (counted in 1/10,000 units: a float beyond this overflows)
        raise ValueError(f"Resource {name!r} is at most {MAX_AMOUNT:g}, got {amount!r}.")
