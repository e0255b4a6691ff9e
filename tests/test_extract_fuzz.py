"""Hostile files against the text extractors: malformed PDF, docx, HTML and text give a
Document or a clean 4xx DocumentError — never another exception, never a hang — and the
bombs are refused. Strategies and bombs: reliability/hostile.py (``make reliability`` runs
them with thousands of examples and a random seed; CI runs a fixed seed)."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings

from reliability.hostile import (
    FILENAMES,
    any_upload,
    check_extraction,
    docx_with_mutated_xml,
    html_documents,
    inflating_pdf,
    many_pages_pdf,
    mutated,
    renumbered_pdfs,
    self_referencing_pdf,
    text_documents,
)
from service.uploads.extract import Document, DocumentError, ExtractionLimits, extract_text
from service.uploads.isolation import ExtractionPool
from testkit.documents import lie_about_size, make_docx, make_pdf, zip_bomb

FUZZ = settings(deadline=None, database=None, derandomize=True,
                suppress_health_check=list(HealthCheck))


@pytest.mark.slow
@settings(FUZZ, max_examples=150)
@given(mutated("pdf"))
def test_malformed_pdfs_are_read_or_refused_cleanly(data):
    check_extraction(data, "plan.pdf")


@pytest.mark.slow
@settings(FUZZ, max_examples=100)
@given(renumbered_pdfs())
def test_pdfs_with_hostile_numbers_are_read_or_refused_cleanly(data):
    """Object numbers, /Length, /Count and xref offsets replaced by 0, -1, 2**31, 1e308…"""
    check_extraction(data, "plan.pdf")


@pytest.mark.slow
@settings(FUZZ, max_examples=100)
@given(mutated("docx"))
def test_malformed_docx_zips_are_read_or_refused_cleanly(data):
    check_extraction(data, "plan.docx")


@pytest.mark.slow
@settings(FUZZ, max_examples=100)
@given(docx_with_mutated_xml())
def test_docx_with_malformed_xml_is_read_or_refused_cleanly(data):
    check_extraction(data, "plan.docx")


@settings(FUZZ, max_examples=150)
@given(html_documents())
def test_malformed_html_is_read_or_refused_cleanly(data):
    result = check_extraction(data, "page.html")
    if isinstance(result, Document):
        assert "<script" not in result.text.lower() or "<script" in data.decode(
            "utf-8", "replace").lower()


@settings(FUZZ, max_examples=200)
@given(text_documents(), FILENAMES)
def test_any_bytes_as_text_are_read_or_refused_cleanly(data, filename):
    result = check_extraction(data, filename)
    if isinstance(result, Document) and result.kind in ("txt", "md"):
        assert "\r" not in result.text  # line ends are normalised


@pytest.mark.slow
@settings(FUZZ, max_examples=150)
@given(any_upload())
def test_anything_under_any_name_is_read_or_refused_cleanly(upload):
    check_extraction(*upload)


def test_the_property_catches_an_extractor_that_raises_something_else(monkeypatch):
    """check_extraction fails on anything but a Document or a 4xx DocumentError."""
    from service.uploads import extract

    monkeypatch.setattr(extract, "_decode", lambda data: (_ for _ in ()).throw(KeyError("x")))
    with pytest.raises(KeyError):
        check_extraction(b"plain text", "a.txt")
    monkeypatch.setattr(extract, "_decode",
                        lambda data: (_ for _ in ()).throw(DocumentError(500, "x")))
    with pytest.raises(AssertionError):
        check_extraction(b"plain text", "a.txt")


# --- bombs ----------------------------------------------------------------------------------

def test_a_zip_bomb_is_refused_before_it_is_unpacked():
    started = time.monotonic()
    with pytest.raises(DocumentError) as ratio:
        extract_text(zip_bomb(8 * 1024 * 1024), "plan.docx")
    with pytest.raises(DocumentError) as size:
        extract_text(zip_bomb(60 * 1024 * 1024), "plan.docx")
    assert (ratio.value.status, size.value.status) == (413, 413)
    assert "100:1" in ratio.value.detail and "50 MB" in size.value.detail
    assert time.monotonic() - started < 10


def test_a_zip_bomb_that_lies_about_its_sizes_is_refused_without_inflating():
    honest = make_docx(["A harmless paragraph."])
    bomb = lie_about_size(zip_bomb(40 * 1024 * 1024), "word/media/padding.bin", 1024)
    with pytest.raises(DocumentError) as refused:
        extract_text(bomb, "plan.docx")
    assert refused.value.status in (413, 422)
    assert extract_text(honest, "plan.docx").text == "A harmless paragraph."


def test_a_pdf_whose_content_stream_inflates_to_300_mb_is_refused():
    bomb = inflating_pdf(pages=1, megabytes_per_page=300)
    assert len(bomb) < 400_000  # 300 MB of content in a few hundred KB
    pool = ExtractionPool(workers=1)  # its memory stays in a worker that is then closed
    try:
        started = time.monotonic()
        with pytest.raises(DocumentError) as refused:
            pool.extract(bomb, "plan.pdf", ExtractionLimits(), timeout_s=30)
        assert refused.value.status in (413, 422)
        assert time.monotonic() - started < 30
    finally:
        pool.close()


def test_a_pdf_of_thousands_of_pages_is_refused_by_the_page_limit():
    started = time.monotonic()
    with pytest.raises(DocumentError) as refused:
        extract_text(many_pages_pdf(5000), "plan.pdf", ExtractionLimits(max_pdf_pages=300))
    assert refused.value.status == 413 and "5000 pages" in refused.value.detail
    assert time.monotonic() - started < 10


def test_a_pdf_whose_page_tree_loops_is_refused():
    started = time.monotonic()
    result = check_extraction(self_referencing_pdf(), "plan.pdf")
    assert isinstance(result, DocumentError) and result.status in (413, 422), result
    assert time.monotonic() - started < 10


# --- found by the fuzzing, fixed in extract._pdf_text --------------------------------------

@pytest.mark.parametrize("old, new", [(b"/Filter /Standard", b"/Filter /Foreign"),
                                      (b"/V 4", b"/V 0")])
def test_a_pdf_with_an_unsupported_encryption_is_refused_cleanly(old, new):
    from testkit.documents import make_encrypted_pdf

    result = check_extraction(make_encrypted_pdf().replace(old, new), "plan.pdf")
    assert isinstance(result, DocumentError) and result.status == 422, result


def test_a_pdf_with_a_huge_startxref_is_refused_cleanly():
    pdf = make_pdf(["A page."])
    offset = pdf.rsplit(b"startxref\n", 1)[1].split(b"\n", 1)[0]
    result = check_extraction(
        pdf.replace(b"startxref\n" + offset, b"startxref\n99999999999999999999"), "plan.pdf")
    assert isinstance(result, DocumentError) and result.status == 422, result


def test_a_bad_pdf_is_contained_by_the_bounded_reader():
    """Through extract_text_bounded the same file is a clean 422, not an exception."""
    from testkit.documents import make_encrypted_pdf

    pool = ExtractionPool(workers=1)
    try:
        with pytest.raises(DocumentError) as refused:
            pool.extract(make_encrypted_pdf().replace(b"/V 4", b"/V 0"), "plan.pdf", None,
                         timeout_s=30)
        assert refused.value.status == 422
    finally:
        pool.close()


def test_markup_the_html_parser_rejects_is_refused_cleanly():
    """Found by the fuzzing: a stray '<![' made BeautifulSoup raise, a 500 through the API."""
    result = check_extraction(b"<html><body><![ risk</body></html>", "notes.html")
    assert isinstance(result, DocumentError) and result.status == 422, result
