"""A self-signed serving certificate for the admission webhook, when nobody gave one.

The API server calls admission webhooks over https only, and checks the
certificate against the ``caBundle`` of the webhook configuration. In the chart
a certificate is issued by Helm and mounted from a Secret; for ``onduty run``
on a laptop, onduty signs its own and registers it as that bundle itself.

Kopf can sign one too, through ``certbuilder`` and ``oscrypto``: two more
packages, and oscrypto's release cannot tell the version of OpenSSL 3.0.10 and
later apart, so it fails on current systems. ``cryptography`` is the library
the rest of the Python world signs with.
"""

from __future__ import annotations

import ipaddress
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# A local run's certificate only lives as long as the process; a year is far more than needed,
# and short enough that a leaked key is not good for ever.
VALIDITY = timedelta(days=365)


@dataclass(frozen=True)
class ServingCertificate:
    """PEM files of a certificate and its key; the certificate is also its own CA."""

    certfile: Path
    keyfile: Path


def self_signed(
    hostnames: list[str], directory: Path | None = None, *, now: datetime | None = None
) -> ServingCertificate:
    """Sign a certificate for ``hostnames`` (DNS names or IP addresses) and write it with its key.

    The key file is readable by its owner only. ``directory`` defaults to a new
    private temporary directory.
    """
    if not hostnames:
        raise ValueError("a certificate needs at least one host name or address")
    now = now or datetime.now(UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(hostnames):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0][:64])])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))  # clocks a little behind still accept it
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    where = directory or Path(tempfile.mkdtemp(prefix="onduty-webhook-"))
    certfile, keyfile = where / "tls.crt", where / "tls.key"
    certfile.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    descriptor = os.open(keyfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return ServingCertificate(certfile, keyfile)
