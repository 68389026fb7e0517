"""The whole story of issue 7 over real processes: `bridgeline up` (three services under
gunicorn, their relays, consumers, webhook deliverers and sweeps) on PostgreSQL and the
real RabbitMQ, driven from the outside as HR, the employee, the provider, the specialist,
the manager and the employer see it. The steps live in `tests/support/story.py`, shared
with `make demo`; run with `-s` to see what each party saw."""

import pytest

from tests.e2e.conftest import SERVICES
from tests.support.story import Narrator, Story

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]


def test_the_whole_story_from_referral_to_revocation(stack):
    story = Story({s: stack.url(s, "") for s in SERVICES}, stack.cli, narrator=Narrator(),
                  timeout=60)
    story.run()
