"""Certificates: two CAs, serving and client certificates, a service-account key (``openssl`` CLI).

EC P-256 keys everywhere: generating them takes milliseconds.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from _controlplane.errors import ControlPlaneError

_REQ_CONFIG: Final = "[req]\ndistinguished_name = dn\n[dn]\n"
_CA_EXT: Final = """\
[ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign, digitalSignature
subjectKeyIdentifier = hash
"""
_LEAF_EXT: Final = """\
[ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = {usage}
authorityKeyIdentifier = keyid
{san}
"""
_EC_KEY: Final = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"


@dataclass(frozen=True)
class Pki:
    """Where one run's certificates and keys are: ``<name>.crt`` and ``<name>.key`` in ``dir``."""

    dir: Path

    @property
    def ca_crt(self) -> Path:
        return self.dir / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.dir / "ca.key"

    @property
    def sa_key(self) -> Path:
        return self.dir / "sa.key"

    @property
    def sa_pub(self) -> Path:
        return self.dir / "sa.pub"

    def crt(self, name: str) -> Path:
        return self.dir / f"{name}.crt"

    def key(self, name: str) -> Path:
        return self.dir / f"{name}.key"


# (file name, subject) of every client certificate.
_CLIENTS: Final = {
    "admin": "/O=system:masters/CN=onduty-admin",
    "kube-controller-manager": "/CN=system:kube-controller-manager",
    "kube-scheduler": "/CN=system:kube-scheduler",
    "kwok": "/O=system:masters/CN=onduty-kwok",
    # The API server's identity towards kubelets (here: kwok's server), as kubeadm names it.
    "apiserver-kubelet-client": "/O=system:masters/CN=kube-apiserver-kubelet-client",
}


def _openssl(cwd: Path, args: str, stdin: bytes | None = None) -> bytes:
    """Run ``openssl`` in ``cwd``; file names in ``args`` are relative, never contain spaces."""
    cmd = ["openssl", *args.split()]
    proc = subprocess.run(cmd, cwd=cwd, input=stdin, capture_output=True, check=False)
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip()
        raise ControlPlaneError(f"openssl {args} failed: {err}")
    return proc.stdout


def make_pki(pki: Pki) -> None:
    """Fresh CAs, serving and client certificates, and a service-account key.

    Two CAs, as kubeadm does: ``ca`` signs the serving certificate and every
    user's client certificate; ``front-proxy-ca`` signs only the certificate the
    API server presents to aggregated API servers (request-header auth).
    """
    if shutil.which("openssl") is None:
        raise ControlPlaneError("the openssl command is needed to create certificates")
    pki.dir.mkdir(parents=True, exist_ok=True)
    pki.dir.chmod(0o700)
    (pki.dir / "req.cnf").write_text(_REQ_CONFIG)
    (pki.dir / "ca.cnf").write_text(_REQ_CONFIG + _CA_EXT)
    for ca, cn in (("ca", "onduty-local-ca"), ("front-proxy-ca", "onduty-local-front-proxy-ca")):
        _openssl(
            pki.dir,
            f"req -x509 -new {_EC_KEY} -keyout {ca}.key -out {ca}.crt -days 365"
            f" -subj /CN={cn} -config ca.cnf -extensions ext",
        )
    # name -> (subject, extended key usage, extra extension line, signing CA)
    leaves = {name: (subject, "clientAuth", "", "ca") for name, subject in _CLIENTS.items()}
    san = "subjectAltName = IP:127.0.0.1, DNS:localhost"
    leaves["serving"] = ("/CN=onduty-local-apiserver", "serverAuth", san, "ca")
    # kwok's kubelet server; the API server checks it against ``ca`` (--kubelet-certificate-authority).
    leaves["kwok-serving"] = ("/CN=kwok-node-logs", "serverAuth", "subjectAltName = IP:127.0.0.1", "ca")
    leaves["front-proxy-client"] = ("/CN=front-proxy-client", "clientAuth", "", "front-proxy-ca")
    for serial, (name, (subject, usage, ext, ca)) in enumerate(sorted(leaves.items()), start=2):
        (pki.dir / f"{name}.ext").write_text(_LEAF_EXT.format(usage=usage, san=ext))
        csr = _openssl(pki.dir, f"req -new {_EC_KEY} -keyout {name}.key -subj {subject} -config req.cnf")
        _openssl(
            pki.dir,
            f"x509 -req -CA {ca}.crt -CAkey {ca}.key -set_serial {serial} -days 365"
            f" -extfile {name}.ext -extensions ext -out {name}.crt",
            stdin=csr,
        )
    _openssl(pki.dir, "genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out sa.key")
    _openssl(pki.dir, "pkey -in sa.key -pubout -out sa.pub")
    for path in pki.dir.glob("*.key"):
        path.chmod(0o600)
