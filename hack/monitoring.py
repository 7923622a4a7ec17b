"""The real monitoring stack for end-to-end tests: Debian's Prometheus and Alertmanager.

Install the binaries with ``hack/install-monitoring.sh``. Then::

    from monitoring import Monitoring, webhook_config

    with Monitoring.start(
        run_dir,
        rules=RULES_YAML,
        alertmanager_config=webhook_config("http://127.0.0.1:9095/api/v1/alerts", bearer_token="t"),
        scrape_targets=["127.0.0.1:8000"],
    ) as mon:
        ...  # mon.prometheus_url, mon.alertmanager_url

Both servers listen on free 127.0.0.1 ports, keep their data, configs and logs
under ``run_dir`` (``logs/prometheus.log``, ``logs/alertmanager.log``), and are
started and stopped by PID through ``hack/processes.py`` (SIGTERM, then SIGKILL).

Timing: with the defaults (1 s scrape and evaluation, ``--rules.alert.resend-delay=1s``,
and ``webhook_config``'s 1 s group_wait/group_interval) a ``for: 0s`` rule's firing
notification reaches the webhook about 1-3 s after the expression turns true, and
the resolved one about 1-2 s after it turns false. Prometheus sends a resolved
alert (with ``endsAt`` = the resolving evaluation) to Alertmanager at the next
evaluation whatever the resend delay; Alertmanager's ``resolve_timeout`` applies
only to alerts pushed without ``endsAt``, never to Prometheus's. Note that a
``rate(x[10s])`` expression itself only falls below its threshold several seconds
after the errors stop: the window still holds them (~9 s for [10s] at a 0.5 ratio).
``start()`` itself takes ~5 s: Prometheus hands static scrape targets and
Alertmanagers over from its discovery managers in 5 s batches, and ``start()``
waits for that (``wait_discovery=True``).

Only the standard library, PyYAML and onduty's own time format.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from onduty.domain.times import rfc3339
from processes import Process, free_ports, http_ok, wait_until

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
AMTOOL = "/usr/bin/amtool"

INSTALL_HINT = "run hack/install-monitoring.sh (apt-get install prometheus prometheus-alertmanager)"


class MonitoringError(RuntimeError):
    """The monitoring stack could not be configured or started."""


def _run_check(argv: list[str], what: str) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr).strip()
        raise MonitoringError(f"invalid {what} ({' '.join(argv)} exited {proc.returncode}):\n{output}")


def _get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _request(method: str, url: str, body: Any = None, timeout: float = 5.0) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as e:
        detail = e.read().decode(errors="replace").strip()
        raise MonitoringError(f"{method} {url}: HTTP {e.code}: {detail}") from None
    return json.loads(raw) if raw.strip() else None


def _to_yaml(value: str | dict[str, Any]) -> str:
    return value if isinstance(value, str) else yaml.safe_dump(value, sort_keys=False)


def webhook_config(
    url: str,
    *,
    bearer_token: str | None = None,
    resolve_timeout: str = "5m",
) -> dict[str, Any]:
    """A complete Alertmanager config that routes every alert to one webhook receiver, ``onduty``.

    Groups by alertname and namespace, 1 s group_wait and group_interval (fast tests),
    1 h repeat_interval, send_resolved. ``bearer_token`` becomes
    ``http_config.authorization`` (type Bearer), which Alertmanager 0.25 supports.
    ``resolve_timeout`` only matters for alerts pushed to the API without ``endsAt``.
    """
    webhook: dict[str, Any] = {"url": url, "send_resolved": True}
    if bearer_token is not None:
        webhook["http_config"] = {"authorization": {"type": "Bearer", "credentials": bearer_token}}
    return {
        "global": {"resolve_timeout": resolve_timeout},
        "route": {
            "receiver": "onduty",
            "group_by": ["alertname", "namespace"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [{"name": "onduty", "webhook_configs": [webhook]}],
    }


class Monitoring:
    """A running Prometheus + Alertmanager pair on loopback. Create with :meth:`start`."""

    def __init__(self, run_dir: Path, prometheus_port: int, alertmanager_port: int) -> None:
        self.run_dir = run_dir
        self.prometheus_port = prometheus_port
        self.alertmanager_port = alertmanager_port
        self.prometheus: Process | None = None
        self.alertmanager: Process | None = None

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://127.0.0.1:{self.alertmanager_port}"

    @property
    def logs(self) -> Path:
        return self.run_dir / "logs"

    @classmethod
    def start(
        cls,
        run_dir: Path,
        *,
        rules: str | dict[str, Any],
        alertmanager_config: str | dict[str, Any],
        scrape_targets: list[str],
        target_labels: dict[str, str] | None = None,
        evaluation_interval: str = "1s",
        scrape_interval: str = "1s",
        resend_delay: str = "1s",
        ready_timeout: float = 60.0,
        wait_discovery: bool = True,
    ) -> Monitoring:
        """Validate the configs, start Alertmanager then Prometheus, wait for both ``/-/ready``.

        ``rules`` is a Prometheus rule file (YAML text or dict, ``groups: [...]``);
        ``alertmanager_config`` a complete Alertmanager config (see :func:`webhook_config`);
        ``scrape_targets`` the ``host:port`` targets of the scrape job ``app``; ``target_labels``
        are attached to every series scraped from them as target labels (``honor_labels`` stays
        false, so they win over what the app exports), as Kubernetes service discovery attaches
        ``namespace``: a namespaced runbook's PromQL sees only its namespace's series.
        ``resend_delay`` is Prometheus's ``--rules.alert.resend-delay``. With ``wait_discovery``
        (default) it also waits until Prometheus has picked up the Alertmanager and the scrape
        targets (about 5 s after start), so nothing the tests time is lost to that startup lag.
        Raises :class:`MonitoringError` (with the tool's output) for a config the tools reject, and
        ``ProcessError`` (with the log tails) when a server exits or is not ready in time, after
        stopping whatever it had started.
        """
        for binary in (PROMETHEUS, ALERTMANAGER, AMTOOL):
            if not os.access(binary, os.X_OK):
                raise MonitoringError(f"{binary} not found; {INSTALL_HINT}")
        run_dir = Path(run_dir).resolve()
        prom_dir = run_dir / "prometheus"
        am_dir = run_dir / "alertmanager"
        logs = run_dir / "logs"
        for d in (prom_dir / "data", am_dir / "data", logs):
            d.mkdir(parents=True, exist_ok=True)

        mon = cls(run_dir, *free_ports(2))

        am_config = am_dir / "alertmanager.yml"
        am_config.write_text(_to_yaml(alertmanager_config))
        _run_check([AMTOOL, "check-config", str(am_config)], "Alertmanager config")

        rules_file = prom_dir / "rules.yml"
        rules_file.write_text(_to_yaml(rules))
        prom_config = prom_dir / "prometheus.yml"
        prom_config.write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": scrape_interval, "evaluation_interval": evaluation_interval},
                    "alerting": {
                        "alertmanagers": [
                            {
                                "api_version": "v2",
                                "static_configs": [{"targets": [f"127.0.0.1:{mon.alertmanager_port}"]}],
                            }
                        ]
                    },
                    "rule_files": [str(rules_file)],
                    "scrape_configs": [
                        {
                            "job_name": "app",
                            "scrape_interval": scrape_interval,
                            "honor_labels": False,
                            "static_configs": [{"targets": list(scrape_targets), "labels": dict(target_labels or {})}],
                        }
                    ],
                },
                sort_keys=False,
            )
        )
        if os.access(PROMTOOL, os.X_OK):
            _run_check([PROMTOOL, "check", "rules", str(rules_file)], "Prometheus rules")
            _run_check([PROMTOOL, "check", "config", str(prom_config)], "Prometheus config")

        try:
            mon.alertmanager = Process.start(
                "alertmanager",
                [
                    ALERTMANAGER,
                    f"--config.file={am_config}",
                    f"--storage.path={am_dir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{mon.alertmanager_port}",
                    f"--web.external-url=http://127.0.0.1:{mon.alertmanager_port}",
                    "--cluster.listen-address=",
                    "--log.level=info",
                ],
                log=logs / "alertmanager.log",
                cwd=am_dir,
            )
            mon.prometheus = Process.start(
                "prometheus",
                [
                    PROMETHEUS,
                    f"--config.file={prom_config}",
                    f"--storage.tsdb.path={prom_dir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{mon.prometheus_port}",
                    f"--web.external-url=http://127.0.0.1:{mon.prometheus_port}",
                    f"--rules.alert.resend-delay={resend_delay}",
                    "--log.level=info",
                ],
                log=logs / "prometheus.log",
                cwd=prom_dir,
            )
            deadline = time.monotonic() + ready_timeout
            mon._wait_ready(deadline)
            if wait_discovery:
                mon._wait_discovery(deadline, len(scrape_targets))
        except BaseException:
            mon.stop()
            raise
        return mon

    def _servers(self) -> list[Process]:
        return [p for p in (self.alertmanager, self.prometheus) if p is not None]

    def _wait_ready(self, deadline: float) -> None:
        for name, url in (("Alertmanager", self.alertmanager_url), ("Prometheus", self.prometheus_url)):
            wait_until(
                lambda url=url: http_ok(url + "/-/ready", timeout=1.0),
                timeout=deadline - time.monotonic(),
                what=f"{name} /-/ready",
                watch=self._servers(),
            )

    def _discovered(self) -> tuple[int, int]:
        """How many Alertmanagers and scrape targets Prometheus's discovery has handed over so far."""
        try:
            _, ams = _get(self.prometheus_url + "/api/v1/alertmanagers")
            _, targets = _get(self.prometheus_url + "/api/v1/targets?state=active")
            n_ams = len(json.loads(ams)["data"]["activeAlertmanagers"])
            n_targets = len(json.loads(targets)["data"]["activeTargets"])
        except (OSError, ValueError, KeyError, TypeError):
            return 0, 0
        return n_ams, n_targets

    def _wait_discovery(self, deadline: float, want_targets: int) -> None:
        # Prometheus hands static targets and Alertmanagers from its discovery managers to the
        # scrape manager and the notifier in 5 s batches (not configurable in 2.42): until then
        # nothing is scraped and no alert can be sent. Waiting here makes start() take ~5 s but
        # leaves the tests' own timings honest.
        def discovered() -> bool:
            n_ams, n_targets = self._discovered()
            return n_ams >= 1 and n_targets >= want_targets

        wait_until(
            discovered,
            timeout=deadline - time.monotonic(),
            what=f"Prometheus to discover its Alertmanager and {want_targets} scrape target(s)",
            watch=self._servers(),
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Stop Prometheus then Alertmanager by PID: SIGTERM, SIGKILL after ``timeout``. Idempotent."""
        for proc in (self.prometheus, self.alertmanager):
            if proc is not None:
                proc.stop(timeout)

    def __enter__(self) -> Monitoring:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant PromQL query; the ``data.result`` list."""
        return query(self.prometheus_url, expr)


def query(prometheus_url: str, expr: str) -> list[dict[str, Any]]:
    """Run an instant PromQL query (GET /api/v1/query); returns ``data.result``."""
    url = f"{prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    body = _request("GET", url)
    if body.get("status") != "success":
        raise MonitoringError(f"query {expr!r} failed: {body}")
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def create_silence(
    alertmanager_url: str,
    matchers: list[dict[str, Any]],
    duration_s: float,
    comment: str,
    *,
    created_by: str = "onduty-tests",
) -> str:
    """Create a silence starting now (POST /api/v2/silences); returns its id.

    Each matcher is ``{"name", "value"}`` plus optional ``isRegex`` (default False)
    and ``isEqual`` (default True).
    """
    now = datetime.now(UTC)
    body = {
        "matchers": [
            {
                "name": m["name"],
                "value": m["value"],
                "isRegex": bool(m.get("isRegex", False)),
                "isEqual": bool(m.get("isEqual", True)),
            }
            for m in matchers
        ],
        "startsAt": rfc3339(now),
        "endsAt": rfc3339(now + timedelta(seconds=duration_s)),
        "createdBy": created_by,
        "comment": comment,
    }
    silence_id: str = _request("POST", f"{alertmanager_url}/api/v2/silences", body)["silenceID"]
    return silence_id


def delete_silence(alertmanager_url: str, silence_id: str) -> None:
    """Expire a silence (DELETE /api/v2/silence/{id})."""
    _request("DELETE", f"{alertmanager_url}/api/v2/silence/{urllib.parse.quote(silence_id)}")


def alerts(alertmanager_url: str) -> list[dict[str, Any]]:
    """The alerts Alertmanager holds (GET /api/v2/alerts): active, silenced and inhibited."""
    result: list[dict[str, Any]] = _request("GET", f"{alertmanager_url}/api/v2/alerts")
    return result


def push_alerts(alertmanager_url: str, alerts: list[dict[str, Any]]) -> None:
    """Push alerts straight into Alertmanager (POST /api/v2/alerts), as Prometheus does.

    Each is ``{labels, annotations?, startsAt?, endsAt?, generatorURL?}``; without
    ``endsAt`` Alertmanager resolves it after ``resolve_timeout``.
    """
    _request("POST", f"{alertmanager_url}/api/v2/alerts", alerts)
