"""``python -m krstock_operator`` as a process: standalone Kopf, liveness, metrics, JSON logs."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import aiohttp
import kmock
from k8s_emulator import make_emulator
from operator_harness import free_port


async def _get(url: str) -> tuple[int, str]:
    try:
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            return response.status, await response.text()
    except aiohttp.ClientError:
        return 0, ""


async def test_the_operator_process_serves_liveness_metrics_and_json_logs() -> None:
    emulator = make_emulator(keda=False)
    async with emulator, kmock.Server(emulator) as server:
        metrics_port, liveness_port = free_port(), free_port()
        env = {
            **os.environ,
            "KRSTOCK_OPERATOR_KUBE_URL": str(server.url).rstrip("/"),
            "KRSTOCK_OPERATOR_API_URL": f"http://127.0.0.1:{free_port()}",  # nothing listens
            "KRSTOCK_OPERATOR_API_TIMEOUT_S": "1",
            "KRSTOCK_OPERATOR_RESYNC_SECONDS": "1",
            "KRSTOCK_OPERATOR_METRICS_PORT": str(metrics_port),
            "KRSTOCK_OPERATOR_LIVENESS_ENDPOINT": f"http://127.0.0.1:{liveness_port}/healthz",
            "KRSTOCK_LOG_FORMAT": "json",
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "krstock_operator"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.monotonic() + 30
            status = 0
            while status != 200 and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                status, _ = await _get(f"http://127.0.0.1:{liveness_port}/healthz")
            assert status == 200, "liveness endpoint never answered"

            scanjob = {
                "apiVersion": "krstock.io/v1alpha1",
                "kind": "ScanJob",
                "metadata": {"name": "orphan-policy", "namespace": "proc"},
                "spec": {"scanner": "vcp", "policyRef": {"name": "missing"}},
            }
            response = await server.client.post(
                "/apis/krstock.io/v1alpha1/namespaces/proc/scanjobs", json=scanjob
            )
            assert response.status in (200, 201)
            phase = None
            while phase != "Blocked" and time.monotonic() < deadline + 20:
                await asyncio.sleep(0.2)
                found = await server.client.get(
                    "/apis/krstock.io/v1alpha1/namespaces/proc/scanjobs/orphan-policy"
                )
                phase = ((await found.json()).get("status") or {}).get("phase")
            assert phase == "Blocked"

            status, text = await _get(f"http://127.0.0.1:{metrics_port}/metrics")
            assert status == 200
            assert 'krstock_operator_reconciles_total{result="problem",trigger="create"}' in text
            assert 'krstock_operator_errors_total{kind="policy"}' in text
            assert "krstock_operator_reconcile_duration_seconds_count" in text
            assert 'krstock_operator_scanjobs{phase="Blocked"} 1.0' in text
        finally:
            process.terminate()
            output, _ = process.communicate(timeout=30)
        records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
        assert records, output[-2000:]
        assert any("reconciled proc/orphan-policy" in r.get("message", "") for r in records)
        assert all("message" in r and "timestamp" in r for r in records)
