"""Each component's command line, as controller-runtime's envtest runs it plus what a real cluster adds.

Pure functions from the run's layout (run directory, binaries, certificates, ports) to arguments:
everything binds 127.0.0.1; leader election and profiling are off.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Final

from _controlplane.kwok import KWOK_LOG_KINDS, KWOK_STAGES, POD_CIDR
from _controlplane.pki import Pki

SERVICE_CIDR: Final = "10.0.0.0/24"


def etcd_args(run_dir: Path, ports: Mapping[str, int]) -> list[str]:
    client = f"http://127.0.0.1:{ports['etcd']}"
    peer = f"http://127.0.0.1:{ports['etcd-peer']}"
    return [
        "--name=onduty",
        f"--data-dir={run_dir / 'etcd'}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=onduty={peer}",
        "--initial-cluster-state=new",
        "--unsafe-no-fsync",
        "--log-level=warn",
    ]


def apiserver_args(pki: Pki, ports: Mapping[str, int]) -> list[str]:
    return [
        f"--etcd-servers=http://127.0.0.1:{ports['etcd']}",
        "--bind-address=127.0.0.1",
        f"--secure-port={ports['kube-apiserver']}",
        "--advertise-address=127.0.0.1",
        "--endpoint-reconciler-type=none",
        f"--cert-dir={pki.dir / 'apiserver'}",
        f"--tls-cert-file={pki.crt('serving')}",
        f"--tls-private-key-file={pki.key('serving')}",
        f"--client-ca-file={pki.ca_crt}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={pki.sa_pub}",
        f"--service-account-signing-key-file={pki.sa_key}",
        "--authorization-mode=Node,RBAC",
        # Request-header authentication for aggregated API servers; the
        # controller manager and scheduler read it from a ConfigMap and
        # complain in a loop when it is missing.
        f"--requestheader-client-ca-file={pki.dir / 'front-proxy-ca.crt'}",
        "--requestheader-allowed-names=front-proxy-client",
        "--requestheader-username-headers=X-Remote-User",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        f"--proxy-client-cert-file={pki.crt('front-proxy-client')}",
        f"--proxy-client-key-file={pki.key('front-proxy-client')}",
        # Proxying pods/log (exec, port-forward) to a node's kubelet: here kwok's server, at the
        # node's InternalIP (the fake nodes have no resolvable host name) and the node's
        # kubeletEndpoint port, checked against our CA, as ourselves.
        "--kubelet-preferred-address-types=InternalIP",
        f"--kubelet-certificate-authority={pki.ca_crt}",
        f"--kubelet-client-certificate={pki.crt('apiserver-kubelet-client')}",
        f"--kubelet-client-key={pki.key('apiserver-kubelet-client')}",
        "--allow-privileged=true",
        "--profiling=false",
    ]


def _component_common(name: str, run_dir: Path, pki: Pki, ports: Mapping[str, int]) -> list[str]:
    kubeconfig = run_dir / "kubeconfigs" / f"{name}.kubeconfig"
    return [
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={ports[name]}",
        f"--tls-cert-file={pki.crt('serving')}",
        f"--tls-private-key-file={pki.key('serving')}",
        "--leader-elect=false",
        "--profiling=false",
    ]


def kcm_args(run_dir: Path, pki: Pki, ports: Mapping[str, int]) -> list[str]:
    return [
        *_component_common("kube-controller-manager", run_dir, pki, ports),
        f"--service-account-private-key-file={pki.sa_key}",
        f"--root-ca-file={pki.ca_crt}",
        f"--cluster-signing-cert-file={pki.ca_crt}",
        f"--cluster-signing-key-file={pki.ca_key}",
        "--use-service-account-credentials=true",
        # Client-side rate limits (default 20 qps) delay start-up by seconds,
        # since every controller first fetches its own service-account token.
        "--kube-api-qps=200",
        "--kube-api-burst=400",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--controllers=*",
    ]


def scheduler_args(run_dir: Path, pki: Pki, ports: Mapping[str, int]) -> list[str]:
    return _component_common("kube-scheduler", run_dir, pki, ports)


def kwok_args(run_dir: Path, bin_dir: Path, pki: Pki, ports: Mapping[str, int]) -> list[str]:
    stages = bin_dir / "kwok-stages"
    return [
        f"--kubeconfig={run_dir / 'kubeconfigs' / 'kwok.kubeconfig'}",
        "--manage-all-nodes=false",
        "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
        "--manage-nodes-with-label-selector=",
        f"--cidr={POD_CIDR}",
        "--node-ip=127.0.0.1",
        "--node-lease-duration-seconds=40",
        # kwok's kubelet server (containerLogs, healthz), on loopback only. No --node-port:
        # that would make every node's kubelet endpoint kwok's; only the logs node names it.
        f"--server-address=127.0.0.1:{ports['kwok']}",
        f"--tls-cert-file={pki.crt('kwok-serving')}",
        f"--tls-private-key-file={pki.key('kwok-serving')}",
        f"--enable-crds={','.join(KWOK_LOG_KINDS)}",
        f"--config={run_dir / 'kwok.yaml'}",
        *(f"--config={stages / stage}" for stage in KWOK_STAGES),
    ]
