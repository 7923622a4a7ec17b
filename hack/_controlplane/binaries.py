"""The binaries: built and cached by ``hack/build-controlplane.sh`` (which honours ``KUBEBUILDER_ASSETS``)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Final

from _controlplane.errors import ControlPlaneError

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
BUILD_SCRIPT: Final = REPO_ROOT / "hack" / "build-controlplane.sh"

# Order of start; stop runs in reverse.
COMPONENTS: Final = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
REQUIRED_BINARIES: Final = (*COMPONENTS, "kubectl")


def find_binaries() -> Path:
    """Run ``hack/build-controlplane.sh`` and return the directory it prints.

    The script is instant when its cache is warm and honours
    ``KUBEBUILDER_ASSETS``. Its progress (stderr) flows to our stderr.
    """
    proc = subprocess.run(
        ["bash", str(BUILD_SCRIPT)],
        stdout=subprocess.PIPE,
        stderr=None,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise ControlPlaneError(f"{BUILD_SCRIPT} failed with exit code {proc.returncode}")
    lines = [line.strip() for line in proc.stdout.splitlines() if line.strip()]
    if not lines:
        raise ControlPlaneError(f"{BUILD_SCRIPT} printed no binary directory")
    bin_dir = Path(lines[-1])
    check_bin_dir(bin_dir)
    return bin_dir


def check_bin_dir(bin_dir: Path) -> None:
    missing = [name for name in REQUIRED_BINARIES if not os.access(bin_dir / name, os.X_OK)]
    if not (bin_dir / "kwok-stages").is_dir():
        missing.append("kwok-stages/")
    if missing:
        raise ControlPlaneError(f"{bin_dir} lacks {', '.join(missing)}")
