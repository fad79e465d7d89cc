"""wss://: a receiver with a certificate serves agents and clients that trust it, and nobody else."""

from __future__ import annotations

import asyncio
import os
import shutil
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from fustor.client import ControlClient, Unreachable
from fustor.testing.agentproc import AgentProcess, make_agent_home
from fustor.testing.processes import READONLY_KEY

from .conftest import run


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("openssl is needed to make a test certificate")
        pytest.skip("openssl is not installed: no test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    return cert, key


@pytest.mark.timeout(90)
def test_a_wss_receiver_serves_who_trusts_its_certificate(fusion_factory, tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    fusion = fusion_factory(tls=(cert, key))
    assert fusion.url.startswith("wss://127.0.0.1:")
    data = tmp_path / "data"
    (data / "up").mkdir(parents=True)
    for i in range(3):
        (data / "up" / f"f{i}").write_text("x" * i)
    trusted = ssl.create_default_context(cafile=str(cert))

    async def main() -> None:
        c = await ControlClient.connect(fusion.url, READONLY_KEY, ssl=trusted)
        assert (await c.status())["views"][0]["view"] == "v"
        # A client that does not trust the certificate is refused at the TLS handshake ...
        with pytest.raises(Unreachable, match="CERTIFICATE_VERIFY_FAILED"):
            await ControlClient.connect(fusion.url, READONLY_KEY, open_timeout=5)
        # ... and plain ws:// on the TLS port gets no websocket.
        with pytest.raises(Unreachable):
            await ControlClient.connect(fusion.url.replace("wss://", "ws://"), READONLY_KEY, open_timeout=5)
        # A real agent that trusts it (a private CA named by SSL_CERT_FILE) feeds the view over wss.
        home = make_agent_home(tmp_path / "agent", root=data, fusion_url=fusion.url, agent_id="tls-agent")
        agent = AgentProcess(home, env={"SSL_CERT_FILE": str(cert)}).start()
        try:
            deadline = time.monotonic() + 30
            while True:
                views = (await c.status())["views"]
                if views[0]["ready"] and views[0]["files"] == 3:
                    break
                assert time.monotonic() < deadline, f"the agent's snapshot over wss: {views}\n{agent.log_tail()}"
                await asyncio.sleep(0.1)
            assert (await c.stats("v", "/up"))["size"] == 0 + 1 + 2
        finally:
            agent.stop()
        await c.close()

    run(main(), timeout=80)
