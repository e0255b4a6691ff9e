"""service.shutdown: what an app runs beside its requests stops when told. The app fixture
calls it before emptying the tables (tests/conftest.py): the session's apps share one
database, and an earlier test's webhook timer or shadow thread must not write into a later
test's rows."""

from __future__ import annotations

import threading
import uuid

from service import shutdown
from service.serving.trials import Trial, shadow_of
from tests.helpers import RACE_TIMEOUT_S


def test_shutdown_stops_the_webhook_timer_the_job_threads_and_the_shadow_trial(make_app):
    app = make_app()
    before = set(threading.enumerate())
    engine = app.extensions["riskscan.jobs"]
    engine.deliver([str(uuid.uuid4())], wait_s=3600)  # a retry due in an hour: its timer waits
    engine.submit([987654321])  # a job thread, which stays for the next document
    shadow = shadow_of(app)
    shadow.run(Trial(id=1, version="v2", sample_rate=1.0, model=object()))
    started = {thread for thread in set(threading.enumerate()) - before
               if thread.name != "riskscan-shadow"}  # idle on its queue once told
    assert {thread.name.rstrip("_0123456789") for thread in started} == {
        "riskscan-later", "riskscan-job"}

    shutdown(app)

    assert shadow.trial is None  # a scan handed over now is not read
    for thread in started:
        thread.join(RACE_TIMEOUT_S)
        assert not thread.is_alive(), f"{thread.name} still runs after shutdown"
