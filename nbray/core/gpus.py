"""Which GPUs a task may use: whole devices for whole requests, a share of one device for a
fraction (best fit, so small shares pack together and leave whole devices free). A task runs
only when both the GPU count and the devices allow it: 2 GPUs half used each have 1 GPU free
in count, but no whole device."""

from __future__ import annotations

import math

_UNITS = 10_000  # as in resources.py: exact fractions


class GpuDevices:
    def __init__(self, total: float) -> None:
        units = round(total * _UNITS)
        self._free = [_UNITS] * (units // _UNITS) + ([units % _UNITS] if units % _UNITS else [])

    def assign(self, amount: float) -> tuple[int, ...] | None:
        """Devices for a request of `amount` GPUs, now taken; None if they are not free."""
        units = round(amount * _UNITS)
        if units == 0:
            return ()
        if units >= _UNITS:
            whole = [i for i, free in enumerate(self._free) if free == _UNITS][: units // _UNITS]
            if len(whole) * _UNITS < units:
                return None
            for index in whole:
                self._free[index] = 0
            return tuple(whole)
        fitting = [(free, i) for i, free in enumerate(self._free) if free >= units]
        if not fitting:
            return None
        _, index = min(fitting)
        self._free[index] -= units
        return (index,)

    def can_assign(self, amount: float) -> bool:
        if not amount:
            return True
        devices = self.assign(amount)
        if devices is None:
            return False
        self.release(devices, amount)
        return True

    def release(self, devices: tuple[int, ...], amount: float) -> None:
        units = round(amount * _UNITS)
        for index in devices:
            self._free[index] += _UNITS if units >= _UNITS else units

    def validate(self) -> None:
        assert all(0 <= free <= _UNITS for free in self._free), f"GPU shares {self._free}"


def check_request(amount: float) -> None:
    """More than one GPU must be a whole number of them (as in Ray)."""
    if amount > 1 and not math.isclose(amount, round(amount)):
        raise ValueError(f"num_gpus above 1 must be a whole number, got {amount}.")
