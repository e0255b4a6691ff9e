"""``python -m service``'s server: waitress until SIGTERM (or SIGINT), then a graceful stop.

A container's stop sends SIGTERM to its first process, and the kernel ends PID 1 for no
signal it has no handler for: without one, `docker stop` waited out its grace period and
killed the process, its requests cut. Here the signal closes the listening sockets (a new
connection is refused), lets the requests in flight finish and their answers go out for up
to SHUTDOWN_GRACE_S while idle connections are closed, then stops the job pool and closes
the database's connections, and the process exits 0. A request still running at the end of
the grace period is answered 503 (send it again: nothing of it was committed unless it ended
just then; an Idempotency-Key makes the retry safe), one whose answer was being sent is cut;
a job document the pool was running is taken up again at the next start
(jobs.queue.resume), as after a crash.

The process ends with ``leave``: its exit handlers run, the interpreter's finalization does
not. A thread still in the model's C++ code at exit (a scan past the grace, the warm-up, a
job document) was ended by finalization with pthread_exit, which C++ turns into
std::terminate: "terminate called without an active exception", exit 134.

waitress's own ``run()`` stops its loop at once on SIGINT, before the answers in flight are
sent: this module runs the loop itself (``create_server`` with a socket map of its own).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import signal
import sys
import threading
import time

from flask import Flask
from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, create_server

from service.config import Settings

log = logging.getLogger("riskscan")

_stopping = threading.Event()
_wake: list = []  # the serving loop's wake-up (its trigger's pull), once it runs


def stop_on_signals() -> None:
    """From now on SIGTERM and SIGINT stop the process (as PID 1 too): while it starts
    (migrations, the model's load), at once, since nothing is served yet; once it serves,
    gracefully (serve); a second signal while it stops, at once. Exit status 0 each time."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _stop)


def leave(status: int):
    """End the process with ``status``: the exit handlers run (atexit: the extraction
    workers, logging's flush), the interpreter's finalization does not (see the module's
    docstring), so no thread still running can turn the exit into an abort."""
    try:
        atexit._run_exitfuncs()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


def _stop(_signum, _frame) -> None:
    if not _wake or _stopping.is_set():
        raise SystemExit(0)
    _stopping.set()
    for wake in _wake:
        wake()  # a byte down a pipe: the loop's poll returns now


def serve(app: Flask, settings: Settings) -> None:
    """Serve ``app`` on HOST:PORT until SIGTERM or SIGINT (stop_on_signals); return once
    stopped (the caller then ends the process with ``leave``)."""
    sockets: dict = {}  # waitress's map: listening sockets, connections, wake-up pipes
    answers = _Answers(app)
    server = create_server(answers, map=sockets, host=settings.HOST, port=settings.PORT,
                           threads=settings.WAITRESS_THREADS, ident="riskscan")
    listeners = [item for item in sockets.values() if isinstance(item, BaseWSGIServer)]
    _wake.append(listeners[0].pull_trigger)
    log.info("serving on http://%s:%s", settings.HOST, settings.PORT)
    try:
        while not _stopping.is_set():
            wasyncore.loop(timeout=server.adj.asyncore_loop_timeout, map=sockets,
                           use_poll=server.adj.asyncore_use_poll, count=1)
        deadline = time.monotonic() + settings.SHUTDOWN_GRACE_S
        for listener in listeners:  # no new connections (not its wake-up pipe: in use)
            wasyncore.dispatcher.close(listener)
        log.info("stopping: no new connections; %d with a request in flight", sum(
            _in_flight(item) for item in sockets.values() if isinstance(item, HTTPChannel)))
        busy = _drain(sockets, server.adj.asyncore_use_poll, deadline)
        unavailable = _answer_unavailable(sockets, answers) if busy else 0
        server.task_dispatcher.shutdown(cancel_pending=True,
                                        timeout=max(0.0, deadline - time.monotonic()))
        _wake.clear()  # before the pipe closes: a later signal has nothing to wake
        wasyncore.close_all(sockets)
        if busy:
            log.warning("stopped with %d requests unfinished after SHUTDOWN_GRACE_S (%g s): "
                        "%d answered 503, %d cut in their answer", busy,
                        settings.SHUTDOWN_GRACE_S, unavailable, busy - unavailable)
    finally:
        _wake.clear()
    _stop_the_rest(app, deadline)


def _in_flight(channel: HTTPChannel) -> bool:
    """A request being received, queued, run, or its answer not yet sent."""
    return bool(channel.requests or channel.total_outbufs_len or channel.request is not None)


class _Answers:
    """The app, as waitress runs it, keeping which connections' requests have had their
    answer begun: the app returned it and waitress writes it (``begun``). At the end of
    the grace period a request whose answer has not begun can still be answered 503 in
    its place (``cut``): from then on waitress writes nothing more to that connection."""

    def __init__(self, app):
        self.app = app
        self._lock = threading.Lock()
        self._begun: set = set()
        self._cut: set = set()

    def __call__(self, environ, start_response):
        channel = _channel_of(environ)
        with self._lock:
            self._begun.discard(channel)
        result = self.app(environ, start_response)
        with self._lock:
            if channel not in self._cut:
                self._begun.add(channel)
        return result

    def cut(self, channel: HTTPChannel) -> bool:
        """Whether ``channel`` is free to be answered 503: its request's answer has not
        begun (its request is received, queued or running). If so, waitress's write of the
        app's answer, when it comes, finds the connection closed."""
        with self._lock:
            if channel in self._begun and channel.requests:
                return False
            self._cut.add(channel)
            with channel.outbuf_lock:
                channel.connected = False  # the task's write_soon: ClientDisconnected
            return True


def _channel_of(environ) -> HTTPChannel | None:
    # waitress puts its channel's check_client_disconnected into each request's environ
    return getattr(environ.get("waitress.client_disconnected"), "__self__", None)


def _unavailable_answer() -> bytes:
    from service.errors import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_BASE, problem_slug

    title = "Service Unavailable"
    body = json.dumps({
        "type": PROBLEM_TYPE_BASE + problem_slug(title), "title": title, "status": 503,
        "detail": "The service stopped before this request was finished; send it again.",
    }).encode()
    head = (f"HTTP/1.1 503 {title}\r\nContent-Type: {PROBLEM_MEDIA_TYPE}\r\n"
            f"Content-Length: {len(body)}\r\nRetry-After: 30\r\nConnection: close\r\n"
            f"Server: riskscan\r\n\r\n")
    return head.encode("ascii") + body


def _answer_unavailable(sockets: dict, answers: _Answers) -> int:
    """At the end of the grace period: each connection still in flight answered 503 where
    its answer had not begun, then closed; returns how many were answered."""
    answered = 0
    for channel in list(sockets.values()):
        if not isinstance(channel, HTTPChannel) or not _in_flight(channel):
            continue
        if answers.cut(channel):
            try:
                channel.socket.settimeout(1.0)  # a few hundred bytes into an empty buffer
                channel.socket.sendall(_unavailable_answer())
                answered += 1
            except OSError:
                pass  # the client has gone
        channel.handle_close()
    return answered


def _drain(sockets: dict, use_poll: bool, deadline: float) -> int:
    """Run the loop until no connection has a request in flight, closing each idle one (no
    next request on it), or until the deadline; returns how many are still in flight."""
    while True:
        busy = 0
        for channel in list(sockets.values()):
            if isinstance(channel, HTTPChannel):
                if _in_flight(channel):
                    busy += 1
                else:
                    channel.handle_close()
        left = deadline - time.monotonic()
        if not busy or left <= 0:
            return busy
        # A task that ends pulls the server's trigger, which ends this wait.
        wasyncore.loop(timeout=min(1.0, left), map=sockets, use_poll=use_poll, count=1)


def _stop_the_rest(app: Flask, deadline: float) -> None:
    """The job pool stops (documents not started stay queued in the database for the next
    start), the database's connections close; a thread still running a document at the
    deadline does not hold the exit (``leave`` ends the process without it)."""
    from service.extensions import db
    from service.jobs.queue import Pool

    engine = app.extensions.get("riskscan.jobs")
    if isinstance(engine, Pool):
        engine.shutdown(wait=False)
    running = [thread for thread in threading.enumerate()
               if not thread.daemon and thread is not threading.main_thread()]
    for thread in running:
        thread.join(max(0.0, deadline - time.monotonic()))
    with app.app_context():
        db.engine.dispose()
    left = [thread.name for thread in running if thread.is_alive()]
    if left:  # leave() does not wait for them
        log.warning("exiting with %s still running (a job document runs again at the next "
                    "start)", ", ".join(left))
