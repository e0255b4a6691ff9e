"""A real OpenLDAP server (Debian's ``slapd``) on loopback for the LDAP sign-in tests.

A company's directory is what Riskscan's LDAP sign-in talks to, so the tests talk to one:
slapd from a slapd.conf of its own in a temporary folder, mdb database seeded with slapadd
from an LDIF, plain LDAP (for StartTLS) and LDAPS on free ports, with a certificate made
here for 127.0.0.1/localhost by a CA made here (the CA file is what a client trusts).
"""

from __future__ import annotations

import datetime
import ipaddress
import re
import shutil
import socket
import ssl
import subprocess
import threading
from pathlib import Path

import ldap3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
SCHEMAS = ("core", "cosine", "inetorgperson")
SUFFIX = "dc=example,dc=com"
ADMIN_DN = f"cn=admin,{SUFFIX}"
ADMIN_PASSWORD = "directory-admin-pw"
START_TIMEOUT_S = 30
LISTENING = re.compile(rb"daemon: added \d+r listener=0x")

CONFIG = """\
{includes}
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {folder}/slapd.pid
TLSCACertificateFile {folder}/ca.crt
TLSCertificateFile {folder}/server.crt
TLSCertificateKeyFile {folder}/server.key
database mdb
suffix "{suffix}"
rootdn "{admin}"
rootpw {password}
directory {folder}/db
maxsize 16777216
access to attrs=userPassword by self write by anonymous auth by * none
access to * by users read by * none
"""


def available() -> bool:
    return all(Path(p).exists() for p in (SLAPD, SLAPADD)) and all(
        Path(f"/etc/ldap/schema/{name}.schema").exists() for name in SCHEMAS)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Directory:
    """slapd serving ``ldif`` from ``folder``: ``start()``, then ``ldap_url``/``ldaps_url``
    and ``ca_file``; ``stop()`` ends it. ``log`` is its debug output (stats level)."""

    def __init__(self, folder: Path, ldif: Path):
        self.folder, self.ldif = folder, ldif
        self.ldap_port, self.ldaps_port = free_port(), free_port()
        self.ldap_url = f"ldap://127.0.0.1:{self.ldap_port}"
        self.ldaps_url = f"ldaps://127.0.0.1:{self.ldaps_port}"
        self.ca_file = folder / "ca.crt"
        self.log = folder / "slapd.log"
        self._process: subprocess.Popen | None = None
        self._lines: list[str] = []
        self._said = threading.Condition()

    def start(self) -> Directory:
        (self.folder / "db").mkdir(parents=True, exist_ok=True)
        make_certificates(self.folder)
        config = self.folder / "slapd.conf"
        config.write_text(CONFIG.format(
            includes="\n".join(f"include /etc/ldap/schema/{n}.schema" for n in SCHEMAS),
            folder=self.folder, suffix=SUFFIX, admin=ADMIN_DN, password=ADMIN_PASSWORD))
        subprocess.run([SLAPADD, "-f", str(config), "-l", str(self.ldif)], check=True,
                       capture_output=True, timeout=START_TIMEOUT_S)
        # -d keeps slapd in the foreground (our child, ended by its pid); at "conns" it
        # says "daemon: added <fd>r listener=<address>" once a listener listens: two of
        # them (LDAP and LDAPS) are the readiness event, read off its stderr.
        self._process = subprocess.Popen(
            [SLAPD, "-f", str(config), "-d", "conns,stats",
             "-h", f"{self.ldap_url}/ {self.ldaps_url}/"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        ready = threading.Event()
        self._drainer = threading.Thread(target=self._drain, args=(ready,), daemon=True,
                                         name="slapd-log")
        self._drainer.start()
        if not ready.wait(START_TIMEOUT_S) or self._process.poll() is not None:
            self.stop()
            raise RuntimeError(f"slapd did not start: {self.log.read_text()[-2000:]}")
        return self

    def _drain(self, ready: threading.Event) -> None:
        """Copies slapd's output to ``log`` (a full pipe would stall it); sets ``ready`` once
        both listeners listen, or when slapd ends first."""
        listening = 0
        with self.log.open("wb") as log:
            for line in self._process.stderr:
                log.write(line)
                log.flush()
                with self._said:
                    self._lines.append(line.decode(errors="replace"))
                    self._said.notify_all()
                listening += bool(LISTENING.search(line))
                if listening == 2:
                    ready.set()
        ready.set()

    def said(self, pattern: str, *, since: int = 0, timeout: float = START_TIMEOUT_S) -> bool:
        """Whether slapd's log, from line ``since`` on, has a line matching ``pattern``,
        waited for up to ``timeout`` seconds (woken by each new line)."""
        found = re.compile(pattern)
        with self._said:
            return self._said.wait_for(
                lambda: any(found.search(x) for x in self._lines[since:]), timeout)

    def log_length(self) -> int:
        with self._said:
            return len(self._lines)

    def lines(self, since: int = 0) -> list[str]:
        with self._said:
            return self._lines[since:]

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(START_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._process is not None:
            self._drainer.join(START_TIMEOUT_S)  # its end of the pipe read to the end
            self._process.stderr.close()
        shutil.rmtree(self.folder / "db", ignore_errors=True)

    def set_password(self, dn: str, password: str) -> None:
        """What the directory's administrator does: a person's password changed."""
        tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(self.ca_file))
        server = ldap3.Server(self.ldaps_url, use_ssl=True, tls=tls, connect_timeout=10)
        # Not `with`: ldap3's context manager leaves a connection bound on entry open.
        connection = ldap3.Connection(server, ADMIN_DN, ADMIN_PASSWORD, auto_bind=True,
                                      receive_timeout=10)
        try:
            connection.modify(dn, {"userPassword": [(ldap3.MODIFY_REPLACE, [password])]})
            assert connection.result["result"] == 0, connection.result
        finally:
            connection.unbind()


def make_certificates(folder: Path) -> None:
    """ca.crt (the trust anchor) and server.crt/server.key (127.0.0.1, localhost) in
    ``folder``; ``other-ca.crt``, a CA that signed nothing here (a client that trusts only
    it must refuse the server)."""
    ca_key, ca_cert = _certificate("Riskscan test directory CA", None, None)
    key, cert = _certificate("127.0.0.1", ca_key, ca_cert)
    _, other = _certificate("Someone else's CA", None, None)
    for name, certificate in (("ca", ca_cert), ("server", cert), ("other-ca", other)):
        (folder / f"{name}.crt").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (folder / "server.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))


def _certificate(name, issuer_key, issuer_cert):
    """A CA certificate (no issuer) or a server's, issued by ``issuer_cert``."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(hours=1))
               .not_valid_after(now + datetime.timedelta(days=1)))
    if issuer_cert is None:
        builder = builder.issuer_name(subject).add_extension(
            x509.BasicConstraints(ca=True, path_length=0), critical=True).add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                          content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False,
                          encipher_only=False, decipher_only=False), critical=True)
        return key, builder.sign(key, hashes.SHA256())
    builder = builder.issuer_name(issuer_cert.subject).add_extension(
        x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                     x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
        critical=False).add_extension(
        x509.BasicConstraints(ca=False, path_length=None), critical=True).add_extension(
        x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    return key, builder.sign(issuer_key, hashes.SHA256())
