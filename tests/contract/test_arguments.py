"""Arguments are bound against the signature at `.remote()`, on every backend, as Ray does: a
wrong call raises TypeError in the caller, naming the function and what is wrong."""

from __future__ import annotations

import pickle
import threading
from typing import Any

import pytest

import nbray
from nbray.arguments import ArgumentCheck


@nbray.remote
def pair(x: int, y: int) -> tuple[int, int]:
    return x, y


@nbray.remote
def flexible(x: int, *rest: int, scale: int = 1, **named: int) -> int:
    return (x + sum(rest) + sum(named.values())) * scale


@nbray.remote
def keyword_only(*, key: str) -> str:
    return key


@nbray.remote
class Account:
    def __init__(self, owner: str, balance: int = 0) -> None:
        self.owner, self.balance = owner, balance

    def deposit(self, amount: int) -> int:
        self.balance += amount
        return self.balance

    @staticmethod
    def fee(amount: int) -> int:
        return amount // 100

    @classmethod
    def kind(cls, verbose: bool) -> str:
        return cls.__name__


def test_a_missing_argument_fails_at_remote_naming_the_function(ray: Any) -> None:
    with pytest.raises(TypeError, match=r"pair\.remote\(\).*pair\(x, y\).*missing.*'y'"):
        pair.remote(1)


@pytest.mark.parametrize(
    ("args", "kwargs", "problem"),
    [
        ((1, 2, 3), {}, "too many positional arguments"),
        ((1, 2), {"z": 3}, "got an unexpected keyword argument 'z'"),
        ((1,), {"x": 2}, "multiple values for argument 'x'"),
        ((), {}, "missing a required argument: 'x'"),
    ],
)
def test_every_kind_of_wrong_call_fails_at_remote(
    ray: Any, args: tuple[Any, ...], kwargs: dict[str, Any], problem: str
) -> None:
    with pytest.raises(TypeError, match=problem):
        pair.remote(*args, **kwargs)


def test_right_calls_of_any_shape_run(ray: Any) -> None:
    refs = [
        pair.remote(1, y=2),
        flexible.remote(1),
        flexible.remote(1, 2, 3, scale=2, extra=4),
        keyword_only.remote(key="k"),
    ]
    assert ray.get(refs) == [(1, 2), 1, 20, "k"]
    with pytest.raises(TypeError, match="missing a required argument: 'key'"):
        keyword_only.remote()
    with pytest.raises(TypeError, match="too many positional"):
        keyword_only.options(num_cpus=1).remote("k")  # .options() copies check too


def test_actor_constructors_and_methods_check_at_remote(ray: Any) -> None:
    with pytest.raises(TypeError, match=r"Account\.remote\(\).*missing.*'owner'"):
        Account.remote()
    account = Account.remote("ann", balance=5)
    with pytest.raises(TypeError, match=r"Account\.deposit\.remote\(\).*\(amount\)"):
        account.deposit.remote()
    with pytest.raises(TypeError, match="too many positional"):
        account.fee.remote(1, 2)
    with pytest.raises(TypeError, match="missing a required argument: 'verbose'"):
        account.kind.remote()
    assert ray.get([account.deposit.remote(10), account.fee.remote(300)]) == [15, 3]
    assert ray.get(account.kind.remote(True)) == "Account"


@nbray.remote
def deposit_twice_wrongly(account: Any) -> str:
    try:
        account.deposit.remote(1, 2)
    except TypeError as error:
        return str(error)
    return "no error"


def test_a_handle_passed_to_a_task_checks_there_too(ray: Any) -> None:
    account = Account.remote("ann")
    assert "too many positional arguments" in ray.get(deposit_twice_wrongly.remote(account))


UNPICKLABLE = threading.Lock()


def test_a_check_travels_as_names_and_kinds_without_the_defaults() -> None:
    def with_unpicklable_default(x: int, lock: Any = UNPICKLABLE) -> None:
        pass

    check = ArgumentCheck.of(with_unpicklable_default, "f")
    copy = pickle.loads(pickle.dumps(check))
    copy((1,), {})
    copy((1,), {"lock": None})
    with pytest.raises(TypeError, match="too many"):
        copy((1, 2, 3), {})
