"""A ``swell serve`` subprocess for tests: started on a free port, stopped or killed."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

LISTENING = re.compile(r"listening on (http://[\d.]+:\d+)")
START_TIMEOUT = 30.0


class ServerProcess:
    def __init__(
        self, database_url: str, log_path: Path, env: dict[str, str] | None = None
    ) -> None:
        self.database_url = database_url
        self.log_path = log_path
        self.env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.base_url = ""
        self._log_offset = 0

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://") + "/ws"

    def start(self, port: int = 0) -> None:
        env = {**os.environ, "SWELL_LOG_LEVEL": "info", "SWELL_ROOM_IDLE_SECONDS": "0.2"}
        env.update(self.env)
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "swell",
                "serve",
                "--port",
                str(port),
                "--database-url",
                self.database_url,
            ],
            stdout=log,
            stderr=log,
            env=env,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            match = LISTENING.search(self.log_text())
            if match:
                self.base_url = match.group(1)
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"server did not start:\n{self.log_text()}")

    def log_text(self) -> str:
        """What this run of the server has logged so far."""
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as f:
            f.seek(self._log_offset)
            return f.read().decode(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, within: float = 15.0) -> int:
        """Send ``sig`` and wait for the exit; returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(within)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self) -> None:
        port = int(self.base_url.rsplit(":", 1)[1])
        self.start(port)

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, timeout=10.0)

    async def create_document(self, title: str = "Test") -> dict[str, str]:
        async with self.http() as client:
            response = await client.post("/api/docs", json={"title": title})
            response.raise_for_status()
            return dict(response.json())
