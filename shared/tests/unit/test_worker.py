"""The worker's loops: a periodic sweep outlives a failed round (a database outage must
not stop the worker), and the webhook retry schedule comes from the settings."""

import threading
from datetime import timedelta

import pytest
from sqlalchemy.exc import OperationalError

from shared.config import Settings
from shared.messaging.testing import running, wait_until
from shared.webhooks import RETRY_SCHEDULE
from shared.worker import delivery_policy, periodic


def test_a_periodic_sweep_that_raises_is_retried_and_the_loop_goes_on():
    calls = []
    outcomes = iter([OperationalError("SELECT 1", {}, OSError("refused")), RuntimeError("bug"),
                     3, 0])

    def work() -> int:
        calls.append(threading.get_ident())
        outcome = next(outcomes, 0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    task = periodic("sweep", work, interval=0.05)
    with running(task.run):
        # two failed rounds, then a sweep of 3 (called again at once), then idle rounds
        assert wait_until(lambda: len(calls) >= 6, timeout=5)


def test_a_periodic_sweep_stops_promptly_while_it_keeps_failing():
    def work() -> int:
        raise OperationalError("SELECT 1", {}, OSError("refused"))

    with running(periodic("sweep", work, interval=30.0).run, stop_within=2.0):
        pass


def test_the_webhook_schedule_is_the_standard_one_unless_configured():
    assert delivery_policy(Settings.from_env("referral", {})).schedule == RETRY_SCHEDULE
    settings = Settings.from_env("referral", {"WEBHOOK_RETRY_SCHEDULE": "0, 1,1.5"})
    assert settings.webhook_retry_schedule == (0.0, 1.0, 1.5)
    assert delivery_policy(settings).schedule == (
        timedelta(0), timedelta(seconds=1), timedelta(seconds=1.5))


@pytest.mark.parametrize("value", ["-1", "1,x", "0,90000"])
def test_a_bad_webhook_schedule_is_refused(value):
    with pytest.raises(ValueError):
        Settings.from_env("referral", {"WEBHOOK_RETRY_SCHEDULE": value})
