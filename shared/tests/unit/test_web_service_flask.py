"""`ServiceFlask.ensure_sync` remembers what it learnt of each function and answers as
Flask's own does: plain functions and methods as they are, coroutine functions through
`async_to_sync`, callables it cannot remember asked about each time."""

import gc
import inspect

import pytest
from flask import Flask

from shared.web import app_factory
from shared.web.app_factory import ServiceFlask


class View:
    def get(self):
        return "got"

    async def later(self):
        return "later"


class Unhashable:
    __hash__ = None  # type: ignore[assignment]

    def __call__(self):
        return "called"


def plain():
    return "plain"


async def coroutine():
    return "coroutine"


@pytest.fixture
def asked(monkeypatch):
    """The functions `inspect.iscoroutinefunction` was asked about."""
    seen = []
    monkeypatch.setattr(app_factory, "iscoroutinefunction",
                        lambda func: seen.append(func) or inspect.iscoroutinefunction(func))
    return seen


def test_plain_functions_and_methods_come_back_as_they_are_asked_about_once(asked):
    app = ServiceFlask("t")
    assert app.ensure_sync(plain) is plain
    assert app.ensure_sync(plain) is plain
    first, second = View().get, View().get  # a new bound method on every request
    assert app.ensure_sync(first) is first and app.ensure_sync(second) is second
    assert asked == [plain, first]


def outcome(app, func):
    """What `ensure_sync` made of `func`: its error (no async extra installed), or
    whether it came back wrapped."""
    try:
        return "wrapped" if app.ensure_sync(func) is not func else "as it was"
    except RuntimeError as error:
        return str(error)


def test_coroutine_functions_go_through_async_to_sync_as_in_flask(asked):
    app, flask = ServiceFlask("t"), Flask("t")
    for func in (coroutine, View().later, View().later):
        assert outcome(app, func) == outcome(flask, func) != "as it was"
    assert len(asked) == 2  # the method's function once, for both instances


def test_a_function_made_for_one_request_is_not_kept(asked):
    app = ServiceFlask("t")

    def once():
        return "once"

    assert app.ensure_sync(once) is once
    assert len(app._is_coroutine) == 1
    del once
    asked.clear()  # the spy held it too
    gc.collect()
    assert len(app._is_coroutine) == 0


def test_an_unhashable_callable_is_asked_about_each_time(asked):
    app, callable_ = ServiceFlask("t"), Unhashable()
    assert app.ensure_sync(callable_) is callable_
    assert len(app._is_coroutine) == 0  # not remembered: Flask's own ensure_sync answered
