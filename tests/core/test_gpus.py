"""GPU devices: whole requests take whole devices, fractions share one, best fit."""

from __future__ import annotations

import pytest

from nbray.core.gpus import GpuDevices, check_request


def test_fractions_pack_together_and_leave_whole_devices_free() -> None:
    gpus = GpuDevices(2)
    assert gpus.assign(0.5) == (0,)
    assert gpus.assign(0.25) == (0,)  # best fit: the device already shared
    assert gpus.assign(1) == (1,)
    assert gpus.assign(0.5) is None and gpus.assign(0.25) == (0,)
    gpus.validate()


def test_a_whole_gpu_waits_when_the_free_count_is_fragmented() -> None:
    gpus = GpuDevices(2)
    first, second = gpus.assign(1), gpus.assign(1)
    gpus.release(first, 1)  # type: ignore[arg-type]
    gpus.release(second, 1)  # type: ignore[arg-type]
    assert gpus.assign(0.5) == (0,)
    assert gpus.can_assign(1) and not gpus.can_assign(2)  # 1.5 free in count, 1 whole device
    assert gpus.assign(0) == ()


def test_more_than_one_gpu_must_be_whole() -> None:
    check_request(0.5)
    check_request(2)
    with pytest.raises(ValueError, match="whole number"):
        check_request(1.5)
