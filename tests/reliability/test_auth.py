"""Authentication and the config home: every key only where it belongs, no write outside the home.

A real fusion and a real agent (on a plain directory: no FUSE needed). Each
key is tried on every endpoint: fusion's data plane (agent keys), fusion's
control plane (read-only and admin keys), the agent's control plane (its
own keys) and the agent's data-plane path (no key at all). Anywhere else a
key is refused with ``unauthorized`` and a close with 1008, and nothing
changes on the server. ``config.write`` (and ``config.read``) with names
that leave the home (``..``, absolute paths, symlinks inside the home that
point out of it) are refused on fusion and on the agent with valid config
text, so the path is what is refused, and nothing is written anywhere.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest

from fustor.client import Connection, ControlClient, Refused, RemoteError
from fustor.testing.agentproc import AGENT_CONTROL_KEY, AgentProcess, make_agent_home
from fustor.testing.processes import ADMIN_KEY, AGENT_KEY, READONLY_KEY, FusionProcess, make_fusion_home, wait_for

from .conftest import run

pytestmark = pytest.mark.integration

UNKNOWN_KEYS = ["", "x", "not-a-key-0000", AGENT_KEY + "x", AGENT_KEY[:-1], AGENT_KEY.upper(), " " + AGENT_KEY,
                "k" * 10_000, "clé-ünïcode-🔑", ADMIN_KEY.replace("admin", "agent")]  # fmt: skip


def _digest(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.is_symlink():
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.mark.timeout(90)
def test_keys_are_refused_off_their_plane_unknown_keys_everywhere_and_config_writes_stay_in_the_home(
        tmp_path, figures):  # fmt: skip
    fusion = FusionProcess(make_fusion_home(tmp_path / "fusion")).start()
    share = tmp_path / "share"
    (share / "d").mkdir(parents=True)
    (share / "d" / "a.txt").write_text("a\n")
    agent = None
    try:
        agent = AgentProcess(make_agent_home(tmp_path / "agent", root=share, fusion_url=fusion.url,
                                             agent_id="agent-auth", timeout_hint=3), backoff=0.2).start()
        fusion_home, agent_home = fusion.home, agent.home
        outside = tmp_path / "outside"
        outside.mkdir()
        view_text = "driver: fs\nhot_file_threshold: 300\n"
        pipe_text = "source: share\nsender: fusion\npipe_id: p\n"
        (outside / "view.yaml").write_text(view_text)
        (outside / "pipe.yaml").write_text(pipe_text)
        before_outside = _digest(outside)

        async def main() -> dict:
            admin = await ControlClient.connect(fusion.url, ADMIN_KEY)
            try:
                # The agent's data-plane key works where it belongs: its session is open.
                async def agent_session() -> bool:
                    return any(s["agent_id"] == "agent-auth" for s in (await admin.status())["sessions"])

                for _ in range(200):
                    if await agent_session():
                        break
                    await asyncio.sleep(0.05)
                assert await agent_session()
                sessions_before = [s["session_id"] for s in (await admin.status())["sessions"]]

                endpoints = {
                    "fusion pipe": (fusion.url, "pipe", {AGENT_KEY: "pipe"}),
                    "fusion control": (fusion.url, "control", {READONLY_KEY: "readonly", ADMIN_KEY: "admin"}),
                    "agent control": (agent.control_url, "control", {AGENT_CONTROL_KEY: "admin"}),
                    "agent pipe": (agent.control_url, "pipe", {}),
                }
                tried = refused = 0
                for name, (url, plane, valid) in endpoints.items():
                    for key in [AGENT_KEY, READONLY_KEY, ADMIN_KEY, AGENT_CONTROL_KEY, *UNKNOWN_KEYS]:
                        tried += 1
                        if key in valid:
                            conn = await Connection.open(url, key, plane=plane)
                            assert conn.access == valid[key], (name, key, conn.hello)
                            await conn.close()
                            continue
                        with pytest.raises(Refused) as err:
                            await Connection.open(url, key, plane=plane)
                        assert err.value.code == "unauthorized", (name, key[:40], err.value)
                        refused += 1
                # A refused hello changed nothing.
                assert [s["session_id"] for s in (await admin.status())["sessions"]] == sessions_before

                # A read-only key may not write.
                ro = await ControlClient.connect(fusion.url, READONLY_KEY)
                with pytest.raises(RemoteError) as err:
                    await ro.config_write("views-config/v.yaml", view_text)
                assert err.value.code == "forbidden"
                await ro.close()

                # Names that leave the home, with text that validates inside it (so what is
                # refused below is the path).
                agent_ctl = await ControlClient.connect(agent.control_url, AGENT_CONTROL_KEY)
                valid = await admin.config_validate("views-config/v2.yaml", view_text)
                assert valid["valid"], valid
                valid = await agent_ctl.config_validate("agent-pipes-config/main.yaml", pipe_text)
                assert valid["valid"], valid
                (fusion_home / "views-config" / "escape.yaml").symlink_to(outside / "view.yaml")
                (fusion_home / "views-config" / "away").symlink_to(outside, target_is_directory=True)
                (agent_home / "agent-pipes-config" / "escape.yaml").symlink_to(outside / "pipe.yaml")
                (agent_home / "away").symlink_to(outside, target_is_directory=True)
                escapes = ["../x.yaml", "../../x.yaml", "./../x.yaml", "views-config/../../x.yaml",
                           "views-config/../../../../../tmp/fustor-x.yaml", "/etc/fustor-x.yaml",
                           str(outside / "new.yaml"), str(outside / "view.yaml"), "..", "../outside/view.yaml"]
                fusion_names = escapes + ["views-config/escape.yaml", "views-config/away/view.yaml",
                                          "views-config/away/new.yaml"]
                agent_names = [n.replace("views-config", "agent-pipes-config") for n in escapes] + [
                    "agent-pipes-config/escape.yaml", "away/pipe.yaml", "away/new.yaml"]
                outcomes = {}
                try:
                    for who, client, names, text in (("fusion", admin, fusion_names, view_text),
                                                     ("agent", agent_ctl, agent_names, pipe_text)):
                        for name in names:
                            for op in ("config_write", "config_read", "config_validate"):
                                args = (name, text) if op != "config_read" else (name,)
                                with pytest.raises(RemoteError) as err:
                                    await getattr(client, op)(*args)
                                assert err.value.code in ("invalid", "config_invalid"), (who, op, name, err.value)
                                assert "outside the config home" in err.value.message, (who, op, name, err.value)
                                outcomes[err.value.code] = outcomes.get(err.value.code, 0) + 1
                finally:
                    await agent_ctl.close()
                return {"keys_tried": tried, "keys_refused": refused, "escape_attempts": sum(outcomes.values()),
                        "escape_codes": outcomes}
            finally:
                await admin.close()

        result = run(main(), timeout=60)
        figures.update(result)
        # Nothing was written outside the homes, nor in /etc or /tmp.
        assert _digest(outside) == before_outside
        for p in ("/etc/fustor-x.yaml", "/tmp/fustor-x.yaml", tmp_path / "x.yaml", fusion_home.parent / "x.yaml"):
            assert not os.path.exists(p), p
        assert fusion.proc.poll() is None and agent.proc.poll() is None
        wait_for(lambda: agent.proc.poll() is None, 1)
    finally:
        if agent is not None:
            agent.kill()
        fusion.kill()
