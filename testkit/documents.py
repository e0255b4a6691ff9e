"""Test documents built in memory: PDF, docx, zip bombs, HTML.

Nothing here is a fixture file on disk, so each test shows what it uploads.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

# Sentences that state risks plainly, so that any trained model finds some of them.
RISKY_SENTENCES = (
    "The vendor may fail to deliver the servers before the go-live date.",
    "The budget is overrun by 20 percent and the sponsor has not approved the change request.",
    "Data protection obligations under GDPR have not been reviewed by legal.",
    "An unpatched server exposes customer data to attackers.",
    "Key developers might leave the project in March.",
    "UAT may slip two weeks if the test environment is not ready.",
)
PLAIN_SENTENCES = ("The team met on Tuesday.", "Lunch was served at noon.")
# Both, as one text: risks the model finds among lines it leaves alone.
MIXED_TEXT = " ".join(RISKY_SENTENCES + PLAIN_SENTENCES)


def _pdf_string(text: str) -> bytes:
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return b"(" + escaped.encode("latin-1") + b")"


def make_pdf(*pages, padding: int = 0) -> bytes:
    """A valid PDF with one page per argument, each page showing its lines as text: a line
    is a string (set in 12 pt) or a (string, points) pair, as a heading is.

    Written by hand (pypdf cannot lay out text): Helvetica, one BT/ET block per page, and
    an xref table whose offsets are computed, so that a strict reader accepts it.
    ``padding``: that many spaces after each page's text, the stream deflated (a bomb).
    """
    pages = pages or (("",),)
    page_count = len(pages)
    # Objects: 1 catalog, 2 pages, 3 font, then (page, content) pairs.
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
            b" ".join(b"%d 0 R" % (4 + 2 * i) for i in range(page_count)), page_count),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for index, lines in enumerate(pages):
        content = b"BT /F1 12 Tf 14 TL 72 720 Td " + b" ".join(
            _pdf_string(line) + b" '" if isinstance(line, str) else
            b"/F1 %d Tf %d TL %s ' /F1 12 Tf 14 TL" % (line[1], line[1] * 6 // 5,
                                                      _pdf_string(line[0]))
            for line in lines) + b" ET"
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                       b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>"
                       % (5 + 2 * index))
        if padding:
            content = zlib.compress(content + b"\n" + b" " * padding, 9)
            objects.append(b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream"
                           % (len(content), content))
        else:
            objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content))
    return assemble_pdf(objects)


def assemble_pdf(objects: list[bytes]) -> bytes:
    """Number the objects 1..n (object 1 the catalog) and write them with a correct xref."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)


def make_encrypted_pdf(user_password: str = "secret") -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(RISKY_SENTENCES[:2]))))
    writer.encrypt(user_password, owner_password="owner-" + user_password, algorithm="AES-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def make_docx(paragraphs=(), table_rows=()) -> bytes:
    """A real .docx written with python-docx: paragraphs, then a table."""
    import docx

    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    if table_rows:
        table = document.add_table(rows=len(table_rows), cols=len(table_rows[0]))
        for row, values in zip(table.rows, table_rows):
            for cell, value in zip(row.cells, values):
                cell.text = value
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def rezip(docx_bytes: bytes, replace: dict[str, bytes] | None = None,
          add: dict[str, bytes] | None = None) -> bytes:
    """The docx with some members replaced and others added (deflated, level 9)."""
    replace, add = replace or {}, add or {}
    source = zipfile.ZipFile(io.BytesIO(docx_bytes))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target:
        for entry in source.infolist():
            target.writestr(entry.filename, replace.get(entry.filename,
                                                        source.read(entry.filename)))
        for name, data in add.items():
            target.writestr(name, data)
    return buffer.getvalue()


def zip_bomb(member_bytes: int) -> bytes:
    """A docx-looking zip: word/document.xml plus ``member_bytes`` of zeros, deflated."""
    return rezip(make_docx(["A harmless paragraph."]),
                 add={"word/media/padding.bin": b"\0" * member_bytes})


def lie_about_size(zip_bytes: bytes, member: str, declared_size: int) -> bytes:
    """The zip with ``member``'s uncompressed size rewritten in both headers.

    The sizes a zip declares are the attacker's to choose; the real deflate stream is
    unchanged and still inflates to its full size.
    """
    data = bytearray(zip_bytes)
    name = member.encode()
    # Per header: its signature and the offsets of the uncompressed size, the name's length
    # and the name (local file header; central directory header).
    for signature, size_at, name_length_at, name_at in ((b"PK\x03\x04", 22, 26, 30),
                                                        (b"PK\x01\x02", 24, 28, 46)):
        at = data.find(signature)
        while at != -1:
            name_length = struct.unpack_from("<H", data, at + name_length_at)[0]
            if data[at + name_at:at + name_at + name_length] == name:
                struct.pack_into("<I", data, at + size_at, declared_size)
            at = data.find(signature, at + 1)
    return bytes(data)


def make_html(body_sentences, *, script: str = "var secretRisk = 'budget';") -> bytes:
    paragraphs = "".join(f"<p>{sentence}</p>" for sentence in body_sentences)
    return (f"<!DOCTYPE html><html><head><title>Status report</title>"
            f"<style>p {{ color: red; }}</style></head><body><h1>Weekly status</h1>"
            f"{paragraphs}<script>{script}</script></body></html>").encode()


PNG_BYTES = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"
             b"\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01"
             b"\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")
