"""The gateway's certificates: a local CA, and a server certificate it signs for every host.

Under the state directory:

- ``ca.pem``: the CA certificate, for ``curl --cacert`` or a trust store. Kept across
  starts (with ``ca-key.pem``, mode 0600), so a CA trusted once stays trusted;
- ``gateway.pem``, ``gateway-key.pem`` (0600): the server certificate, issued anew on every
  start because the estate's hosts may have changed.

Keys are ECDSA P-256: quick to make and cheap to handshake with. One certificate covers every
name, so the server needs no SNI callback.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_CERT: Final = "ca.pem"
CA_KEY: Final = "ca-key.pem"
SERVER_CERT: Final = "gateway.pem"
SERVER_KEY: Final = "gateway-key.pem"
CA_LIFETIME: Final = datetime.timedelta(days=3650)
SERVER_LIFETIME: Final = datetime.timedelta(days=365)
# A CA this close to expiry is replaced rather than reused.
CA_RENEW_BEFORE: Final = datetime.timedelta(days=30)
_SKEW: Final = datetime.timedelta(hours=1)  # not-before in the past, for clocks slightly behind
LOOPBACK_IP: Final = ipaddress.IPv4Address("127.0.0.1")


@dataclass(frozen=True)
class Certificates:
    ca_cert: Path
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert, self.key)
        # HTTP/1.1 only: clients that offer h2 fall back instead of failing.
        context.set_alpn_protocols(["http/1.1"])
        return context


def issue_certificates(
    state_dir: Path, hosts: Iterable[str], now: datetime.datetime | None = None
) -> Certificates:
    """Make (or reuse) the CA and issue a server certificate for ``hosts`` and 127.0.0.1."""
    moment = now or datetime.datetime.now(datetime.UTC)
    state_dir.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = _load_ca(state_dir, moment) or _new_ca(state_dir, moment)
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName(host) for host in dict.fromkeys(hosts)]
    cert = (
        _builder(moment, SERVER_LIFETIME)
        .subject_name(_name("promote sandbox gateway"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signing=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([*names, x509.IPAddress(LOOPBACK_IP)]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = Certificates(state_dir / CA_CERT, state_dir / SERVER_CERT, state_dir / SERVER_KEY)
    _write_private(paths.key, _private_pem(key))
    _write_public(paths.cert, cert.public_bytes(serialization.Encoding.PEM))
    return paths


def _new_ca(
    state_dir: Path, moment: datetime.datetime
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _name(f"promote sandbox CA {moment:%Y-%m-%d %H:%M:%S}")
    cert = (
        _builder(moment, CA_LIFETIME)
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(signing=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    # The key first: a ca.pem without its key would be replaced on the next start anyway.
    _write_private(state_dir / CA_KEY, _private_pem(key))
    _write_public(state_dir / CA_CERT, cert.public_bytes(serialization.Encoding.PEM))
    return key, cert


def _load_ca(
    state_dir: Path, moment: datetime.datetime
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate] | None:
    """The CA kept from an earlier start, or None when absent, unreadable or expiring."""
    try:
        cert = x509.load_pem_x509_certificate((state_dir / CA_CERT).read_bytes())
        key = serialization.load_pem_private_key((state_dir / CA_KEY).read_bytes(), None)
    except (OSError, ValueError):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return None
    if cert.public_key() != key.public_key():
        return None
    if cert.not_valid_after_utc - CA_RENEW_BEFORE < moment:
        return None
    return key, cert


def _builder(moment: datetime.datetime, lifetime: datetime.timedelta) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .serial_number(x509.random_serial_number())
        .not_valid_before(moment - _SKEW)
        .not_valid_after(moment + lifetime)
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "promote sandbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_usage(*, signing: bool) -> x509.KeyUsage:
    """A server key signs handshakes; a CA key signs certificates and CRLs."""
    return x509.KeyUsage(
        digital_signature=signing,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=not signing,
        crl_sign=not signing,
        encipher_only=False,
        decipher_only=False,
    )


def _private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_private(path: Path, data: bytes) -> None:
    # Created 0600 rather than chmod-ed afterwards: never readable by others, not even briefly.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(data)
    path.chmod(0o600)  # an older file keeps its mode through O_TRUNC


def _write_public(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o644)
