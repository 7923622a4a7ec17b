"""The parts of the local control plane; ``hack/controlplane.py`` is its public face and command line.

One concern per module: :mod:`.binaries` (finding the built binaries), :mod:`.pki` (certificates),
:mod:`.kubeconfig`, :mod:`.components` (each component's command line), :mod:`.kwok` (fake nodes,
stages and container logs), :mod:`.api` (the few HTTPS calls start-up needs), :mod:`.cluster`
(start, attach, status, stop), :mod:`.smoke` (the self-test). Processes are started and stopped
through ``hack/processes.py``. Import from ``controlplane``, not from here.
"""
