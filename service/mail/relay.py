"""One message handed to the SMTP relay (the standard library's smtplib and email: the
protocol's reference implementation, STARTTLS, implicit TLS and AUTH included).

The relay's certificate is checked (SMTP_CA_FILE, else the system's CAs); ``none`` is
plain SMTP, which the settings allow only to a relay on loopback. Every socket operation is
bounded by SMTP_TIMEOUT_S, so a relay that never answers ends the attempt, never a worker.
An answer the relay gives for good (a 5xx to the recipient or the message) is ``permanent``:
retrying cannot change it; everything else (refused, unreachable, a login refused, a 4xx)
is tried again.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from service.db import utcnow


@dataclass(frozen=True)
class Outcome:
    sent: bool
    permanent: bool = False
    error: str | None = None


def message_of(row, sender: str) -> EmailMessage:
    """The message as it goes to the relay: headers from the row (its subject is one line,
    compose.py), a plain text part and, where there is one, an HTML alternative."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = Address(addr_spec=_ascii_domain(row.to_address))
    message["Subject"] = row.subject
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = make_msgid(domain=_ascii_domain(parseaddr(sender)[1]).rpartition(
        "@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to it
    if getattr(row, "unsubscribe_url", None):  # RFC 2369 and RFC 8058: a mail client's one-click "unsubscribe"
        message["List-Unsubscribe"] = f"<{row.unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(row.text_body)
    if row.html_body:
        message.add_alternative(row.html_body, subtype="html")
    return message


def send(row, settings) -> Outcome:
    """Hand ``row`` (a MailMessage's columns) to the relay of ``settings``."""
    try:
        message = message_of(row, settings.MAIL_FROM)
    except (ValueError, IndexError) as refused:  # an address that can never be written
        return Outcome(False, permanent=True, error=f"Not a valid message: {refused}"[:500])
    context = ssl.create_default_context(cafile=settings.SMTP_CA_FILE or None)
    try:
        if settings.SMTP_SECURITY == "tls":
            relay = smtplib.SMTP_SSL(settings.SMTP_HOST, settings.SMTP_PORT,
                                     timeout=settings.SMTP_TIMEOUT_S, context=context)
        else:
            relay = smtplib.SMTP(settings.SMTP_HOST, settings.SMTP_PORT,
                                 timeout=settings.SMTP_TIMEOUT_S)
        with relay:
            if settings.SMTP_SECURITY == "starttls":
                relay.starttls(context=context)
            if settings.SMTP_USERNAME:
                relay.login(settings.SMTP_USERNAME, settings.SMTP_PASSWORD)
            relay.send_message(message)
    except smtplib.SMTPRecipientsRefused as refused:
        code, words = next(iter(refused.recipients.values()))
        return Outcome(False, permanent=code >= 500, error=_said(code, words))
    except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as refused:
        return Outcome(False, permanent=refused.smtp_code >= 500,
                       error=_said(refused.smtp_code, refused.smtp_error))
    except smtplib.SMTPAuthenticationError as refused:
        said = _said(refused.smtp_code, refused.smtp_error)
        return Outcome(False, error=f"The relay refused the login (SMTP_USERNAME, "
                                    f"SMTP_PASSWORD): {said}"[:500])
    except (TimeoutError, smtplib.SMTPException, OSError) as failed:
        return Outcome(False, error=f"The relay could not be reached or answered badly: "
                                    f"{type(failed).__name__}: {failed}"[:500])
    return Outcome(True)


def _said(code: int, words) -> str:
    text = words.decode("utf-8", "replace") if isinstance(words, bytes) else str(words)
    return f"{code} {text}"[:500]


def _ascii_domain(address: str) -> str:
    """An address whose domain is written in IDNA (xn--…), as every relay reads it; the
    local part as it is (quoted parts kept)."""
    local, at, domain = address.rpartition("@")
    if not at:
        raise ValueError(f"no domain in {address!r}")
    return f"{local}@{domain.encode('idna').decode('ascii')}"
