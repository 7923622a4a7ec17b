"""Kubeconfigs for the admin and each component, with the certificates embedded."""

from __future__ import annotations

import base64
from pathlib import Path

from _controlplane.pki import Pki


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


def write_kubeconfig(path: Path, server: str, pki: Pki, user: str) -> None:
    """A kubeconfig with the certificates embedded, so it works from anywhere."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = f"""\
apiVersion: v1
kind: Config
clusters:
- name: onduty-local
  cluster:
    server: {server}
    certificate-authority-data: {_b64(pki.ca_crt)}
users:
- name: {user}
  user:
    client-certificate-data: {_b64(pki.crt(user))}
    client-key-data: {_b64(pki.key(user))}
contexts:
- name: onduty-local
  context:
    cluster: onduty-local
    user: {user}
    namespace: default
current-context: onduty-local
"""
    path.write_text(text)
    path.chmod(0o600)
