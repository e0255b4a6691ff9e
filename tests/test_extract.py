"""service/uploads/extract.py: text out of txt, md, html, pdf and docx, within bounds."""

from __future__ import annotations

import io
import time
import tracemalloc
import zipfile

import pytest

from service.uploads.extract import (
    MEDIA_TYPES,
    DocumentError,
    ExtractionLimits,
    detect_kind,
    extract_text,
)
from testkit.documents import (
    PNG_BYTES,
    RISKY_SENTENCES,
    assemble_pdf,
    lie_about_size,
    make_docx,
    make_encrypted_pdf,
    make_html,
    make_pdf,
    rezip,
    zip_bomb,
)


def refused(status, data, filename=None, limits=None) -> str:
    with pytest.raises(DocumentError) as caught:
        extract_text(data, filename, limits or ExtractionLimits())
    assert caught.value.status == status, caught.value.detail
    return caught.value.detail


# --- recognised by content ---------------------------------------------------------------

@pytest.mark.parametrize("data, filename, kind", [
    (make_pdf(["x"]), "report.pdf", "pdf"),
    (make_pdf(["x"]), "report", "pdf"),          # no extension: the content decides
    (make_pdf(["x"]), None, "pdf"),
    (make_docx(["x"]), "notes.docx", "docx"),
    (make_docx(["x"]), "notes", "docx"),
    (b"plain words", "a.txt", "txt"),
    (b"plain words", "a.TXT", "txt"),            # extensions in any case
    (b"plain words", "a.text", "txt"),
    (b"plain words", None, "txt"),
    (b"# Title\n\ntext", "a.md", "md"),
    (b"# Title\n\ntext", "a.markdown", "md"),
    (b"<p>just text</p>", "a.html", "html"),
    (b"<p>just text</p>", "a.htm", "html"),
    (b"<!doctype html><p>x</p>", "a.txt", "html"),  # an HTML document named .txt
    (b"  <!-- c --> <html><body>x</body></html>", None, "html"),
    (b"<p>markup in a text file</p>", "a.txt", "txt"),  # not a document: kept as text
])
def test_detect_kind(data, filename, kind):
    assert detect_kind(data, filename) == kind


@pytest.mark.parametrize("data, filename", [
    (b"words", "a.exe"),
    (b"a,b\n1,2", "table.csv"),
    (b"words", "archive.tar.gz"),
    (make_pdf(["x"]), "report.docx"),       # a PDF named .docx
    (make_docx(["x"]), "notes.pdf"),        # a docx named .pdf
    (make_docx(["x"]), "notes.txt"),        # a docx named .txt
    (b"plain words", "notes.pdf"),          # text named .pdf
    (b"plain words", "notes.docx"),
    (PNG_BYTES, "photo.txt"),               # binary renamed .txt
    (PNG_BYTES, None),
    (b"\x7fELF\x02\x01\x01\x00" + bytes(64), "run.md"),
])
def test_anything_but_the_five_kinds_is_415(data, filename):
    with pytest.raises(DocumentError) as caught:
        extract_text(data, filename)
    assert caught.value.status == 415


def test_unsupported_extension_is_named_in_the_detail():
    assert "'.csv'" in refused(415, b"a,b", "x.csv")


def test_text_that_is_not_utf8_is_refused():
    assert "UTF-8" in refused(415, "Budget überzogen".encode("latin-1"), "a.txt")


def test_control_characters_without_nul_are_refused_as_binary():
    assert "binary" in refused(415, b"text \x01\x02\x03 more", "a.txt")


def test_empty_file_is_422():
    assert "empty" in refused(422, b"", "a.txt")


# --- text, markdown, html ------------------------------------------------------------------

def test_text_drops_the_bom_and_normalises_line_ends():
    document = extract_text("\ufeffline one\r\nline two\rline three".encode(), "a.txt")
    assert document.text == "line one\nline two\nline three"
    assert (document.kind, document.media_type) == ("txt", "text/plain")


def test_markdown_is_kept_as_written():
    source = "# Risks\n\n* The vendor may be late.\n"
    document = extract_text(source.encode(), "risks.md")
    assert document.text == source and document.media_type == "text/markdown"


def test_html_keeps_visible_text_only_one_block_per_paragraph():
    document = extract_text(make_html(RISKY_SENTENCES[:2], script="var hidden = 1;"), "a.html")
    assert document.text.split("\n\n") == ["# Weekly status", *RISKY_SENTENCES[:2]]
    assert "hidden" not in document.text and "color" not in document.text
    assert "Status report" not in document.text  # <head> (title) is not content
    assert document.media_type == "text/html"


def test_html_inline_elements_stay_in_their_sentence_and_entities_are_decoded():
    markup = b"<ul><li>The <b>vendor</b> may be <a href='#'>late</a>.</li><li>R&amp;D cost.</li></ul>"
    assert extract_text(markup, "a.html").text == "- The vendor may be late.\n\n- R&D cost."


def test_html_headings_are_marked_and_blocks_never_run_together():
    """A long heading is no sentence of the paragraph under it, and a paragraph or cell
    without a full stop is no hard-wrapped line of the next one (service.analysis.segment
    joins those in typed text)."""
    markup = (b"<h2>Risks and issues we are tracking this quarter</h2>"
              b"<p>The vendor has not signed the contract for the servers</p>"
              b"<p>Budget<br>overrun by a fifth</p>"
              b"<table><tr><td>Key developers might leave the project in March</td>"
              b"<td>Ana</td></tr></table><h6>Owner</h6>")
    assert extract_text(markup, "a.html").text.split("\n\n") == [
        "## Risks and issues we are tracking this quarter",
        "The vendor has not signed the contract for the servers", "Budget\noverrun by a fifth",
        "Key developers might leave the project in March", "Ana", "###### Owner"]


def test_preformatted_html_keeps_its_lines_as_a_browser_shows_them():
    """A mailing-list archive shows each message in <pre>, wrapped at 72 columns: its lines
    reach the segmenter, which joins the wrapped ones, instead of one run of text."""
    markup = (b"<p>Minutes\nof the meeting</p><pre>Risks\n- The vendor has not signed the "
              b"contract,\n  so the June launch may slip.\n\nNext meeting: <b>May   3</b></pre>")
    assert extract_text(markup, "a.html").text == (
        "Minutes of the meeting\n\nRisks\n- The vendor has not signed the contract,\n"
        "so the June launch may slip.\n\nNext meeting: May 3")


def test_deeply_nested_html_is_read_in_linear_time():
    """20,000 nested <div>s (200 KB): quadratic work here took half a minute."""
    depth = 20_000
    markup = b"<html><body>" + b"<div>" * depth + b"The vendor may be late." + \
        b"</div>" * depth + b"</body></html>"
    started = time.monotonic()
    assert extract_text(markup, "deep.html").text == "The vendor may be late."
    assert time.monotonic() - started < 8


# --- PDF -----------------------------------------------------------------------------------

def test_pdf_text_from_every_page():
    data = make_pdf(RISKY_SENTENCES[:2], ["Page two (continued)."])
    document = extract_text(data, "report.pdf")
    assert document.text == "\n".join(RISKY_SENTENCES[:2]) + "\n\nPage two (continued)."
    assert document.media_type == "application/pdf"


def test_pdf_headings_are_told_by_their_font_size():
    """A PDF has no heading element: a line set larger than the body text is one, and one
    wrapped over two lines is one heading, not the first line of the paragraph under it."""
    data = make_pdf([("Quarterly report of the", 20), ("payments team", 20),
                     ("Risks and issues we are tracking this quarter", 16),
                     RISKY_SENTENCES[0], RISKY_SENTENCES[1], ("Owner", 12)],
                    [RISKY_SENTENCES[2]])
    assert extract_text(data, "report.pdf").text == (
        "# Quarterly report of the payments team\n\n"
        "# Risks and issues we are tracking this quarter\n\n"
        f"{RISKY_SENTENCES[0]}\n{RISKY_SENTENCES[1]}\nOwner\n\n{RISKY_SENTENCES[2]}")


def test_pdf_lines_short_of_the_column_end_their_item():
    """A list whose bullets were drawn (a browser's print to PDF) leaves its items as bare
    lines: one well short of the column's width, without a stop, before a capital ends its
    item, where typed text would read the two as one wrapped line."""
    data = make_pdf(["The vendor has not signed the contract for the new servers and",
                     "the June launch may slip unless legal approves the new terms.",
                     "Only one engineer knows the billing system",
                     "Budget overrun in the second half",
                     "The current CI pipeline is hard to maintain and to extend now."])
    assert extract_text(data, "report.pdf").text == (
        "The vendor has not signed the contract for the new servers and "
        "the June launch may slip unless legal approves the new terms.\n"
        "Only one engineer knows the billing system\n\nBudget overrun in the second half\n\n"
        "The current CI pipeline is hard to maintain and to extend now.")


def test_pdf_ligatures_come_out_as_letters():
    """A typeset "ﬃ" is one character to pypdf; the classifier knows the letters (the
    shipped model scored "… is diﬃcult to maintain and extend." 0.03, "difficult" 1.00)."""
    content = b"BT /F1 12 Tf 72 720 Td (The pipeline is di\\310cult to maintain.) Tj ET"
    data = assemble_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
        (b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding << /Type /Encoding "
         b"/Differences [200 /ffi] >> >>"),  # byte 200 draws the "ffi" ligature
        (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
         b"/Resources << /Font << /F1 3 0 R >> >> /Contents 5 0 R >>"),
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content)])
    assert extract_text(data, "a.pdf").text == "The pipeline is difficult to maintain."


@pytest.mark.parametrize("keep", [0.95, 0.5, 0.1])
def test_truncated_pdf_is_422(keep):
    data = make_pdf(RISKY_SENTENCES)
    assert "damaged or truncated" in refused(422, data[:int(len(data) * keep)], "a.pdf")


def test_pdf_garbage_after_the_header_is_422():
    refused(422, b"%PDF-1.7\n" + bytes(range(256)) * 20, "a.pdf")


def test_pdf_decompression_bomb_is_422():
    """100 MB of spaces behind the text, deflated to about 100 KB: pypdf stops inflating at
    its limit (75 MB), and the upload is refused rather than read."""
    data = make_pdf(["The vendor may be late."], padding=100 * 1024 * 1024)
    assert len(data) < 200_000
    assert "PDF" in refused(422, data, "bomb.pdf")


def test_a_deflated_pdf_stream_is_read():
    data = make_pdf(["The vendor may be late."], padding=1000)
    assert extract_text(data, "a.pdf").text == "The vendor may be late."


def test_pdf_over_the_page_limit_is_413_and_names_the_limit():
    data = make_pdf(["one."], ["two."], ["three."])
    detail = refused(413, data, "a.pdf", ExtractionLimits(max_pdf_pages=2))
    assert "3 pages" in detail and "limit is 2" in detail
    assert extract_text(data, "a.pdf", ExtractionLimits(max_pdf_pages=3)).text


def test_password_protected_pdf_is_422():
    assert "password" in refused(422, make_encrypted_pdf("secret"), "a.pdf")


def test_pdf_encrypted_with_an_empty_user_password_is_read():
    document = extract_text(make_encrypted_pdf(""), "a.pdf")
    assert RISKY_SENTENCES[0] in document.text


def test_pdf_without_text_gives_empty_text():
    assert extract_text(make_pdf([]), "scan.pdf").text == ""


# --- docx ----------------------------------------------------------------------------------

def test_docx_paragraphs_then_table_cells():
    data = make_docx(RISKY_SENTENCES[:2], [("Owner", "Risk"), ("Ann", RISKY_SENTENCES[2])])
    document = extract_text(data, "plan.docx")
    assert document.text.split("\n\n") == [*RISKY_SENTENCES[:2], "Owner", "Risk", "Ann",
                                           RISKY_SENTENCES[2]]
    assert document.media_type == MEDIA_TYPES["docx"]


def test_docx_headings_and_list_items_are_marked_by_their_style_or_numbering():
    import docx
    from docx.oxml import parse_xml
    from docx.oxml.ns import nsdecls

    document = docx.Document()
    document.add_heading("Quarterly report of the payments team", 0)
    document.add_heading("Risks and issues we are tracking this quarter", 2)
    document.add_paragraph("The vendor has not signed the contract for the servers",
                           style="List Bullet")
    document.add_paragraph("Budget overrun", style="List Number")
    numbered = document.add_paragraph("Vendor delay")  # numbered as Google Docs writes it
    numbered._p.get_or_add_pPr().append(parse_xml(
        f'<w:numPr {nsdecls("w")}><w:ilvl w:val="0"/><w:numId w:val="1"/></w:numPr>'))
    document.add_paragraph("Nothing else to report.")
    buffer = io.BytesIO()
    document.save(buffer)
    assert extract_text(buffer.getvalue(), "plan.docx").text.split("\n\n") == [
        "# Quarterly report of the payments team",
        "## Risks and issues we are tracking this quarter",
        "- The vendor has not signed the contract for the servers", "- Budget overrun",
        "- Vendor delay", "Nothing else to report."]


@pytest.mark.parametrize("keep", [0.9, 0.5, 0.01])
def test_truncated_docx_is_422(keep):
    data = make_docx(RISKY_SENTENCES)
    refused(422, data[:max(int(len(data) * keep), 4)], "a.docx")


def test_zip_that_is_not_a_docx_is_415():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "hello")
    assert "not a docx" in refused(415, buffer.getvalue(), "a.docx")


def test_docx_with_malformed_xml_is_422():
    data = rezip(make_docx(["x"]), replace={"word/document.xml": b"<w:document><unclosed"})
    refused(422, data, "a.docx")


def test_docx_over_the_uncompressed_limit_is_413():
    limits = ExtractionLimits(max_docx_uncompressed_bytes=2 * 1024 * 1024,
                              max_docx_compression_ratio=10_000)
    detail = refused(413, zip_bomb(3 * 1024 * 1024), "a.docx", limits)
    assert "limit is 2 MB" in detail


def test_zip_bomb_is_refused_by_its_compression_ratio():
    data = zip_bomb(20 * 1024 * 1024)  # 20 MB of zeros in about 40 KB
    assert len(data) < 100_000
    detail = refused(413, data, "a.docx")
    assert "limit is 100:1" in detail


def test_docx_with_too_many_parts_is_413():
    data = rezip(make_docx(["x"]), add={f"extra/part{i}.xml": b"<a/>" for i in range(30)})
    assert "limit is 20" in refused(413, data, "a.docx", ExtractionLimits(max_docx_entries=20))


def test_docx_that_lies_about_its_sizes_is_refused_without_inflating_it():
    """Declared sizes are the attacker's: 64 MB of XML declared as 5 KB passes the size
    and ratio checks, and must not be inflated anyway."""
    real = (b"<w:document xmlns:w='http://schemas.openxmlformats.org/wordprocessingml/2006/"
            b"main'><w:body>" + b" " * (64 * 1024 * 1024))
    data = lie_about_size(rezip(make_docx(["x"]), replace={"word/document.xml": real}),
                          "word/document.xml", 5000)
    del real
    assert len(data) < 1024 * 1024
    tracemalloc.start()
    try:
        refused(422, data, "a.docx")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"inflated {peak // (1024 * 1024)} MB"


def test_docx_with_a_part_twice_is_422():
    base = make_docx(["x"])
    buffer = io.BytesIO()
    source = zipfile.ZipFile(io.BytesIO(base))
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            target.writestr(entry.filename, source.read(entry.filename))
        with pytest.warns(UserWarning, match="Duplicate name"):
            target.writestr("word/document.xml", source.read("word/document.xml"))
    refused(422, buffer.getvalue(), "a.docx")
