#!/usr/bin/env python3
"""Post an Alertmanager v4 notification to a running bridge, as Alertmanager would.

python hack/fire-alert.py [--resolve] [--port 9095] [--alertname KubePodCrashLooping]
                          [--deployment web] [--namespace default]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime

from alertmanager_webhook import am_alert, am_payload, post_json


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("ONDUTY_BRIDGE_PORT") or 9095),
        help="the bridge's port on 127.0.0.1 (default: $ONDUTY_BRIDGE_PORT, else 9095)",
    )
    parser.add_argument("--url", help="the bridge's webhook URL (default: http://127.0.0.1:PORT/api/v1/alerts)")
    parser.add_argument("--alertname", default="KubePodCrashLooping")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--deployment", default="web")
    parser.add_argument("--severity", default="critical")
    parser.add_argument(
        "--starts-at",
        default=datetime.now(UTC).replace(second=0, microsecond=0).isoformat(),
        help="startsAt (default: this minute); deliveries of one fingerprint join its open episode whatever it is",
    )
    parser.add_argument("--resolve", action="store_true")
    args = parser.parse_args()
    labels = {
        "alertname": args.alertname,
        "namespace": args.namespace,
        "deployment": args.deployment,
        "severity": args.severity,
    }
    starts = datetime.fromisoformat(args.starts_at)
    alert = am_alert(
        labels,
        starts_at=starts,
        status="resolved" if args.resolve else "firing",
        ends_at=datetime.now(UTC) if args.resolve else None,
    )
    url = args.url or f"http://127.0.0.1:{args.port}/api/v1/alerts"
    code, body = post_json(url, am_payload(alert))
    print(code, json.dumps(body))
    return 0 if code == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
