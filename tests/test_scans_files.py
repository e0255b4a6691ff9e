"""Documents through POST /api/v1/scans: each file type, and hostile files that must be
refused with the right status and leave nothing behind."""

from __future__ import annotations

import io
import zipfile

import pytest

from service.config import current_settings
from service.uploads.extract import extract_text
from testkit.documents import (
    PNG_BYTES,
    RISKY_SENTENCES,
    lie_about_size,
    make_docx,
    make_encrypted_pdf,
    make_html,
    make_pdf,
    rezip,
    zip_bomb,
)
from tests.helpers import Accounts, assert_problem
from tests.scanning import (
    check_findings,
    count_rows,
    created,
    download,
    nothing_stored,
    post_file,
    scan_dir,
)

SENTENCES = (RISKY_SENTENCES[1], RISKY_SENTENCES[3], "The team met on Tuesday.")


@pytest.fixture
def user(scan_app, scan_client):
    return Accounts(scan_app, scan_client).user()


def documents():
    """(kind, file name, bytes, media type) of one document of each supported kind."""
    return [
        ("txt", "status.txt", ("\n".join(SENTENCES) + "\n").encode(), "text/plain"),
        ("md", "status.md", ("# Status\n\n" + "\n\n".join(f"* {s}" for s in SENTENCES)
                             ).encode(), "text/markdown"),
        ("html", "status.html", make_html(SENTENCES), "text/html"),
        ("pdf", "status.pdf", make_pdf(SENTENCES[:2], SENTENCES[2:]), "application/pdf"),
        ("docx", "status.docx", make_docx(SENTENCES[:2], [("Owner", SENTENCES[2])]),
         "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ]


@pytest.mark.parametrize("kind, filename, data, media_type", documents(),
                         ids=[d[0] for d in documents()])
def test_each_file_type_is_analysed_stored_and_downloadable(scan_app, scan_client, user,
                                                            kind, filename, data, media_type):
    owner, headers = user
    scan = created(post_file(scan_client, headers, data, filename))

    text = extract_text(data, filename).text
    assert all(sentence in text for sentence in SENTENCES)
    check_findings(text, scan)
    assert scan["filename"] == filename and scan["media_type"] == media_type
    assert scan["source"] == "model"

    stored = scan_dir(scan_app, owner["id"], scan["scan_id"]) / f"original.{kind}"
    assert stored.read_bytes() == data

    response = scan_client.get(f"/api/v1/scans/{scan['scan_id']}/file", headers=headers)
    try:
        assert response.status_code == 200
        assert response.get_data() == data
        assert response.mimetype == media_type
        assert response.headers["Content-Disposition"] == f"attachment; filename={filename}"
    finally:
        response.close()
    assert scan_client.get(f"/api/v1/scans/{scan['scan_id']}",
                           headers=headers).get_json() == scan


# Headings too long for the plain-text heading rule, and without a full stop: typed text
# would read each as the first line of the sentence under it.
SECTIONS = (("Risks and issues we are tracking this quarter", RISKY_SENTENCES[0]),
            ("Budget overrun risk for the second half of the year", RISKY_SENTENCES[1]),
            ("Security findings raised by the external audit", RISKY_SENTENCES[3]))


def _sectioned_docx() -> bytes:
    import docx

    document = docx.Document()
    for heading, sentence in SECTIONS:
        document.add_heading(heading, 2)
        document.add_paragraph(sentence)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("filename, data", [
    ("report.html", "".join(f"<h2>{h}</h2><p>{s}</p>" for h, s in SECTIONS).encode()),
    ("report.docx", _sectioned_docx()),
    ("report.pdf", make_pdf([line for heading, sentence in SECTIONS
                             for line in ((heading, 16), sentence)])),
], ids=["html", "docx", "pdf"])
def test_a_documents_headings_are_never_findings_nor_part_of_one(scan_client, user,
                                                                  filename, data):
    _, headers = user
    scan = created(post_file(scan_client, headers, data, filename))
    check_findings(extract_text(data, filename).text, scan)
    found = [finding["risk"] for finding in scan["data"]]
    assert not [risk for risk in found for heading, _ in SECTIONS if heading in risk]
    assert set(found) <= {sentence for _, sentence in SECTIONS}


@pytest.mark.parametrize("filename, data, kind", [
    ("report", make_pdf(SENTENCES), "pdf"),
    ("report.PDF", make_pdf(SENTENCES), "pdf"),
    ("notes", make_docx(SENTENCES), "docx"),
    ("page.txt", make_html(SENTENCES), "html"),
], ids=["pdf-without-extension", "pdf-upper-case", "docx-without-extension",
        "html-named-txt"])
def test_the_kind_comes_from_the_content(scan_app, scan_client, user, filename, data, kind):
    owner, headers = user
    scan = created(post_file(scan_client, headers, data, filename))
    assert scan["filename"] == filename
    check_findings(extract_text(data, filename).text, scan)
    folder = scan_dir(scan_app, owner["id"], scan["scan_id"])
    assert [path.name for path in folder.iterdir()] == [f"original.{kind}"]


@pytest.mark.parametrize("sent, shown", [
    ("../../../../etc/cron.d/evil.txt", "evil.txt"),
    ("/var/lib/riskscan/Q3 risks.txt", "Q3 risks.txt"),
])
def test_a_path_in_the_file_name_is_dropped_and_nothing_lands_outside(
        scan_app, scan_client, user, tmp_path, sent, shown):
    owner, headers = user
    scan = created(post_file(scan_client, headers, " ".join(SENTENCES).encode(), sent))
    assert scan["filename"] == shown
    uploads = tmp_path / "uploads"
    assert [p.relative_to(uploads).as_posix() for p in uploads.rglob("*") if p.is_file()] == [
        f"{owner['id']}/{scan['scan_id']}/original.txt"]
    assert {p.name for p in tmp_path.iterdir()} == {"uploads"}


def test_a_non_ascii_file_name_survives_the_download(scan_client, user):
    _, headers = user
    data = make_docx(SENTENCES)
    scan = created(post_file(scan_client, headers, data, "Risikoübersicht Q3.docx"))
    assert scan["filename"] == "Risikoübersicht Q3.docx"
    response = scan_client.get(f"/api/v1/scans/{scan['scan_id']}/file", headers=headers)
    try:
        assert response.get_data() == data
        disposition = response.headers["Content-Disposition"]
    finally:
        response.close()
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''Risiko%C3%BCbersicht%20Q3.docx" in disposition


def _not_a_docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "The vendor may be late.")
    return buffer.getvalue()


def _lying_docx() -> bytes:
    real = (b"<w:document xmlns:w='http://schemas.openxmlformats.org/wordprocessingml/2006/"
            b"main'><w:body>" + b" " * (64 * 1024 * 1024))
    return lie_about_size(rezip(make_docx(["x"]), replace={"word/document.xml": real}),
                          "word/document.xml", 4000)


PDF = make_pdf(SENTENCES)
DOCX = make_docx(SENTENCES)

HOSTILE = [
    # (id, file name, bytes or a function making them, status, words the detail must have)
    ("truncated-pdf", "report.pdf", PDF[:len(PDF) // 2], 422, "truncated"),
    ("pdf-missing-its-end", "report.pdf", PDF[:-40], 422, "truncated"),
    ("pdf-header-then-garbage", "report.pdf", b"%PDF-1.4\n" + bytes(range(256)) * 8, 422,
     "PDF"),
    ("password-pdf", "report.pdf", make_encrypted_pdf(), 422, "password"),
    ("pdf-without-text", "scan.pdf", make_pdf([]), 422, "no text"),
    ("truncated-docx", "plan.docx", DOCX[:len(DOCX) // 2], 422, "docx"),
    # built when the test runs, not at collection: they inflate tens of MB to build
    ("docx-bomb-by-ratio", "plan.docx", lambda: zip_bomb(8 * 1024 * 1024), 413,
     "limit is 100:1"),
    ("docx-bomb-by-size", "plan.docx", lambda: zip_bomb(60 * 1024 * 1024), 413,
     "limit is 50 MB"),
    ("docx-lying-about-its-size", "plan.docx", _lying_docx, 422, "docx"),
    ("docx-with-broken-xml", "plan.docx",
     rezip(DOCX, replace={"word/document.xml": b"<w:document><w:body><w:p>"}), 422, "docx"),
    ("zip-that-is-not-a-docx", "plan.docx", _not_a_docx(), 415, "not a docx"),
    ("png-renamed-txt", "notes.txt", PNG_BYTES, 415, "binary"),
    ("png-without-name", "upload", PNG_BYTES, 415, "binary"),
    ("elf-renamed-md", "notes.md", b"\x7fELF\x02\x01\x01\x00" + bytes(100), 415, "binary"),
    ("zero-bytes-txt", "empty.txt", b"", 422, "empty"),
    ("zero-bytes-pdf", "empty.pdf", b"", 422, "empty"),
    ("whitespace-txt", "blank.txt", b" \n\t\r\n ", 422, "empty or whitespace"),
    ("html-with-only-a-script", "page.html",
     b"<html><body><script>alert('the budget')</script></body></html>", 422, "no text"),
    ("pdf-named-docx", "report.docx", PDF, 415, ".docx"),
    ("docx-named-pdf", "plan.pdf", DOCX, 415, ".pdf"),
    ("docx-named-txt", "plan.txt", DOCX, 415, ".txt"),
    ("text-named-pdf", "notes.pdf", b"The vendor may be late.", 415, ".pdf"),
    ("text-named-exe", "notes.exe", b"The vendor may be late.", 415, "'.exe'"),
    ("text-named-csv", "risks.csv", b"risk,owner\nlate vendor,ann\n", 415, "'.csv'"),
    ("latin-1-text", "notes.txt", "Das Budget ist überzogen.".encode("latin-1"), 415, "UTF-8"),
]


@pytest.mark.parametrize("filename, data, status, words", [case[1:] for case in HOSTILE],
                         ids=[case[0] for case in HOSTILE])
def test_hostile_or_unsupported_files_are_refused_and_leave_nothing(
        scan_app, scan_client, user, filename, data, status, words):
    _, headers = user
    data = data() if callable(data) else data
    body = assert_problem(post_file(scan_client, headers, data, filename), status, "file")
    assert words in body["detail"], body["detail"]
    nothing_stored(scan_app)


def test_pdf_over_the_page_limit_is_413(make_app, scan_model_dir):
    app = make_app(MODEL_DIR=str(scan_model_dir), MAX_PDF_PAGES=2)
    client = app.test_client()
    _, headers = Accounts(app, client).user()
    body = assert_problem(post_file(client, headers, make_pdf(*([s] for s in SENTENCES)),
                                    "report.pdf"), 413, "file")
    assert "3 pages" in body["detail"] and "limit is 2" in body["detail"]
    nothing_stored(app)

    two_pages = make_pdf([SENTENCES[0]], [SENTENCES[1]])
    scan = created(post_file(client, headers, two_pages, "report.pdf"))
    check_findings(extract_text(two_pages).text, scan)


def test_a_document_whose_text_is_over_max_document_chars_is_413(make_app, scan_model_dir):
    app = make_app(MODEL_DIR=str(scan_model_dir), MAX_DOCUMENT_CHARS=150)
    client = app.test_client()
    _, headers = Accounts(app, client).user()
    long_docx = make_docx([RISKY_SENTENCES[1], RISKY_SENTENCES[3], RISKY_SENTENCES[4]])
    assert len(long_docx) < 150 * 1000  # the file is small; its text is what is too long
    assert len(extract_text(long_docx).text) > 150
    body = assert_problem(post_file(client, headers, long_docx, "plan.docx"), 413)
    assert "limit is 150" in body["detail"] and "MAX_DOCUMENT_CHARS" in body["detail"]
    nothing_stored(app)


def test_a_file_over_max_upload_mb_is_413(make_app, scan_model_dir):
    app = make_app(MODEL_DIR=str(scan_model_dir), MAX_UPLOAD_MB=0.05)  # 51 KiB
    client = app.test_client()
    _, headers = Accounts(app, client).user()
    big_pdf = make_pdf(*([f"{RISKY_SENTENCES[0]} {i}"] for i in range(600)))
    assert len(big_pdf) > 60 * 1024
    assert_problem(post_file(client, headers, big_pdf, "report.pdf"), 413)
    nothing_stored(app)


def test_force_llm_with_a_file_is_503_and_stores_nothing(scan_app, scan_client, user):
    _, headers = user
    body = assert_problem(post_file(scan_client, headers, DOCX, "plan.docx", force_llm="true"),
                          503)
    assert "LLM" in body["detail"]
    nothing_stored(scan_app)


@pytest.mark.parametrize("value", ["maybe", "2", "tru"])
def test_force_llm_must_be_a_boolean_in_a_form(scan_app, scan_client, user, value):
    _, headers = user
    assert_problem(post_file(scan_client, headers, DOCX, "plan.docx", force_llm=value), 422,
                   "force_llm")
    nothing_stored(scan_app)


def test_one_users_files_are_kept_apart_from_anothers(scan_app, scan_client, user):
    alice, alice_headers = user
    bob, bob_headers = Accounts(scan_app, scan_client).user()
    alices = created(post_file(scan_client, alice_headers, DOCX, "plan.docx"))
    bobs = created(post_file(scan_client, bob_headers, PDF, "plan.pdf"))
    assert (scan_dir(scan_app, alice["id"], alices["scan_id"]) / "original.docx").is_file()
    assert (scan_dir(scan_app, bob["id"], bobs["scan_id"]) / "original.pdf").is_file()
    assert download(scan_client, alices["scan_id"], alice_headers) == (200, DOCX)
    assert download(scan_client, bobs["scan_id"], bob_headers) == (200, PDF)
    assert download(scan_client, alices["scan_id"], bob_headers)[0] == 404
    assert count_rows(scan_app) == 2


@pytest.mark.parametrize("rollback_fails", [False, True], ids=["rollback-ok", "rollback-raises"])
def test_a_failed_save_leaves_no_file_even_when_the_rollback_raises(app, client, monkeypatch,
                                                                     rollback_fails):
    from pathlib import Path

    from sqlalchemy.exc import OperationalError

    from service.extensions import db
    from tests.scanning import KeywordAnalyzer

    monkeypatch.setattr(app.extensions["riskscan.analyzers"], "model", KeywordAnalyzer())
    _, headers = Accounts(app, client).user()
    lost = OperationalError("COMMIT", {}, Exception("database is locked"))

    def commit():
        raise lost

    def rollback():
        if rollback_fails:
            raise OperationalError("ROLLBACK", {}, Exception("database is locked"))

    with app.app_context():
        session = db.session()
    monkeypatch.setattr(type(session), "commit", lambda self: commit())
    monkeypatch.setattr(type(session), "rollback", lambda self: rollback())
    response = client.post("/api/v1/scans", headers=headers, content_type="multipart/form-data",
                           data={"file": (io.BytesIO(b"The vendor may slip."), "plan.txt")})
    monkeypatch.undo()
    assert_problem(response, 503)
    root = Path(current_settings(app).UPLOAD_DIR)
    assert not root.exists() or list(root.iterdir()) == []  # no file, no empty folder


def test_a_users_second_slow_upload_is_429_while_others_are_served(make_app, monkeypatch):
    import threading
    import time

    from reliability.hostile import inflating_pdf
    from service.uploads.isolation import default_pool
    from tests.scanning import KeywordAnalyzer

    # The user's next upload waits half the time limit (1 s) for the first, which takes
    # about 3 s of work.
    app = make_app(EXTRACTION_TIMEOUT_S=2.0)
    monkeypatch.setattr(app.extensions["riskscan.analyzers"], "model", KeywordAnalyzer())
    client = app.test_client()
    accounts = Accounts(app, client)
    mallory, mallory_headers = accounts.user()
    _, alice_headers = accounts.user()
    slow = inflating_pdf(pages=2, megabytes_per_page=20)  # about 3 s of work

    def upload(headers, data, name, statuses):
        response = app.test_client().post(
            "/api/v1/scans", headers=headers, content_type="multipart/form-data",
            data={"file": (io.BytesIO(data), name)})
        statuses.append(response.status_code)

    first: list[int] = []
    thread = threading.Thread(target=upload, args=(mallory_headers, slow, "slow.pdf", first))
    thread.start()
    deadline = time.monotonic() + 30
    while default_pool().busy(mallory["id"]) == 0:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    second = client.post("/api/v1/scans", headers=mallory_headers,
                         content_type="multipart/form-data",
                         data={"file": (io.BytesIO(slow), "slow-again.pdf")})
    body = assert_problem(second, 429, "file")
    assert int(second.headers["Retry-After"]) > 0
    assert "being read" in body["detail"]
    other = client.post("/api/v1/scans", headers=alice_headers,
                        content_type="multipart/form-data",
                        data={"file": (io.BytesIO(b"The vendor may slip."), "plan.txt")})
    assert other.status_code == 201, other.get_json()
    thread.join(timeout=60)
    assert len(first) == 1


@pytest.mark.parametrize("stored", ["/etc/passwd", "../../../../etc/passwd",
                                    "../../other-user/scan/original.txt", "original.txt/.."])
def test_a_stored_name_that_leaves_the_scans_folder_is_never_served(
        scan_app, scan_client, user, stored):
    """Issue #86: a row names a file, it is not a path. A scan's row changed under the
    service (a restore, a hand edit) to name any other file answers 404, never its bytes."""
    from service.db import Scan
    from service.extensions import db

    _, headers = user
    scan = created(post_file(scan_client, headers, b"The vendor may be late.\n", "x.txt"))
    with scan_app.app_context():
        db.session.get(Scan, scan["scan_id"]).stored_filename = stored
        db.session.commit()

    response = scan_client.get(f"/api/v1/scans/{scan['scan_id']}/file", headers=headers)

    assert_problem(response, 404)
    assert b"root:" not in response.get_data()
