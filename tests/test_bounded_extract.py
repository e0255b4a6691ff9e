"""extract_text_bounded: the same answers as extract_text, within a time limit, in worker
processes that import no model and are killed and replaced when they run over."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from reliability.hostile import inflating_pdf
from service.uploads.extract import DocumentError, ExtractionLimits, extract_text
from service.uploads.isolation import DEFAULT_TIMEOUT_S, ExtractionPool, extract_text_bounded
from testkit.documents import RISKY_SENTENCES, make_docx, make_html, make_pdf, zip_bomb


@pytest.fixture(scope="module")
def pool():
    pool = ExtractionPool(workers=2)
    yield pool
    pool.close()


def worker_pids(pool) -> set[int]:
    return {worker.process.pid for worker in list(pool._idle.queue)}


DOCUMENTS = {
    "txt": (RISKY_SENTENCES[0].encode(), "plan.txt"),
    "md": (b"# Plan\n\n" + RISKY_SENTENCES[1].encode(), "plan.md"),
    "html": (make_html(RISKY_SENTENCES[:2]), "plan.html"),
    "pdf": (make_pdf(RISKY_SENTENCES[:2], RISKY_SENTENCES[2:4]), "plan.pdf"),
    "docx": (make_docx(RISKY_SENTENCES[:3], table_rows=[("Risk", RISKY_SENTENCES[4])]),
             "plan.docx"),
}


@pytest.mark.parametrize("kind", sorted(DOCUMENTS))
def test_a_document_reads_the_same_as_extract_text(pool, kind):
    data, name = DOCUMENTS[kind]
    assert pool.extract(data, name, ExtractionLimits(), timeout_s=30) == extract_text(data, name)


@pytest.mark.parametrize("data, name, status", [
    (b"\x00\x01binary", "plan.txt", 415),
    (b"", "plan.txt", 422),
    (make_pdf(["Half a PDF."])[:200], "plan.pdf", 422),
    (zip_bomb(8 * 1024 * 1024), "plan.docx", 413),
    (make_pdf(*[[f"Page {i}."] for i in range(4)]), "plan.pdf", 413),
])
def test_refusals_are_the_same_document_errors(pool, data, name, status):
    limits = ExtractionLimits(max_pdf_pages=3)
    with pytest.raises(DocumentError) as direct:
        extract_text(data, name, limits)
    with pytest.raises(DocumentError) as bounded:
        pool.extract(data, name, limits, timeout_s=30)
    assert (bounded.value.status, bounded.value.detail) == (status, direct.value.detail)
    assert direct.value.status == status


def test_a_slow_document_is_stopped_at_the_time_limit_and_the_worker_replaced(pool):
    # Ten pages whose content streams inflate to 20 MB each: seconds of work for 200 KB.
    slow = inflating_pdf(pages=10, megabytes_per_page=20)
    pool.extract(b"warm up", "a.txt", None, timeout_s=30)
    before, killed = worker_pids(pool), pool.killed
    started = time.monotonic()
    with pytest.raises(DocumentError) as refused:
        pool.extract(slow, "plan.pdf", None, timeout_s=0.5)
    elapsed = time.monotonic() - started
    assert refused.value.status == 422
    assert "took longer than 0.5 s" in refused.value.detail
    assert elapsed < 3, elapsed
    assert pool.killed == killed + 1
    gone = before - worker_pids(pool)
    assert len(gone) == 1 and not _alive(gone.pop())
    # The pool goes on with a new worker.
    assert pool.extract(b"Still here.", "a.txt", None, timeout_s=30).text == "Still here."


def test_a_worker_that_dies_mid_read_is_a_422_and_is_replaced(pool):
    slow = inflating_pdf(pages=10, megabytes_per_page=20)
    pool.extract(b"warm up", "a.txt", None, timeout_s=30)
    pids = worker_pids(pool)
    errors = []

    def read():
        try:
            pool.extract(slow, "plan.pdf", None, timeout_s=30)
        except DocumentError as error:
            errors.append(error)

    thread = threading.Thread(target=read)
    thread.start()
    time.sleep(0.5)
    busy = pids - worker_pids(pool)  # the one checked out for the read
    assert len(busy) == 1
    os.kill(busy.pop(), signal.SIGKILL)  # as the OOM killer would
    thread.join(timeout=10)
    assert [e.status for e in errors] == [422]
    assert "crashed" in errors[0].detail
    assert pool.extract(b"Still here.", "a.txt", None, timeout_s=30).text == "Still here."


def test_an_idle_worker_that_died_is_replaced_without_failing_the_next_read(pool):
    pool.extract(b"warm up", "a.txt", None, timeout_s=30)
    for pid in worker_pids(pool):
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    assert pool.extract(b"Fine.", "a.txt", None, timeout_s=30).text == "Fine."


def test_concurrent_reads_share_the_workers(pool):
    data, name = DOCUMENTS["pdf"]
    expected = extract_text(data, name)
    results, errors = [], []

    def read():
        try:
            results.append(pool.extract(data, name, None, timeout_s=30))
        except Exception as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=read) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == [] and results == [expected] * 6
    assert pool.size == 2 and len(worker_pids(pool)) <= 2


def test_workers_import_the_parsers_but_no_model_and_no_web_stack(pool):
    modules = pool.worker_modules(("torch", "transformers", "flask", "sqlalchemy", "service",
                                   "pypdf", "docx", "bs4"))
    assert modules == {"torch": False, "transformers": False, "flask": False,
                       "sqlalchemy": False, "service": False,
                       "pypdf": True, "docx": True, "bs4": True}


def test_the_module_function_uses_a_shared_pool_and_a_sensible_default():
    assert 5 <= DEFAULT_TIMEOUT_S <= 120
    document = extract_text_bounded(DOCUMENTS["pdf"][0], "plan.pdf", ExtractionLimits())
    assert document.kind == "pdf" and RISKY_SENTENCES[0] in document.text


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead too: it only waits to be reaped.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _wait_until(predicate, timeout_s=30.0):
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def test_one_owner_cannot_hold_every_worker(pool):
    """Two uploads built to run for the whole time limit: the owner's second is refused at
    once, and another owner is served meanwhile."""
    slow = inflating_pdf(pages=2, megabytes_per_page=20)  # about 3 s of work
    pool.extract(b"warm up", "a.txt", None, timeout_s=30)
    outcome = []
    release = threading.Thread(target=lambda: outcome.append(_try_extract(
        pool, slow, "plan.pdf", timeout_s=30, owner="mallory")))
    release.start()
    _wait_until(lambda: pool.busy("mallory") == 1)
    with pytest.raises(DocumentError) as refused:
        pool.extract(slow, "plan.pdf", None, timeout_s=30, owner="mallory")
    assert refused.value.status == 429
    served = pool.extract(b"Alice's plan.", "a.txt", None, timeout_s=30, owner="alice")
    assert served.text == "Alice's plan."
    assert pool.busy("mallory") == 1, "alice was served while mallory's read still ran"
    release.join(timeout=60)
    assert pool.busy("mallory") == 0
    # Once done, the owner may read again.
    assert pool.extract(b"Next.", "a.txt", None, timeout_s=30, owner="mallory").text == "Next."


def _try_extract(pool, data, name, *, timeout_s, owner):
    try:
        return pool.extract(data, name, None, timeout_s=timeout_s, owner=owner)
    except DocumentError as error:
        return error


def test_an_owners_few_quick_reads_at_once_are_served_in_turn(pool):
    data, name = DOCUMENTS["docx"]
    results, errors = [], []

    def read():
        try:
            results.append(pool.extract(data, name, None, timeout_s=30, owner="script",
                                        owner_wait_s=30))
        except DocumentError as error:
            errors.append(error)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == [] and len(results) == 4
