"""``pip install .`` (not editable), then ``swell serve``: the migrations and the built web app
ship inside the wheel and are found with importlib.resources, not through the checkout."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pycrdt import Text

from tests.client import synced_doc, text_of, wait_for
from tests.server import LISTENING

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[1]
WEB_BUILD = ROOT / "server" / "swell" / "web"
START_TIMEOUT = 60.0
STEP_TIMEOUT = 300.0
PLACEHOLDER_TEXT = "not built yet"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def run(args: list[str | Path], cwd: Path, env: dict[str, str]) -> None:
    result = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, (
        f"{' '.join(map(str, args))} exited with {result.returncode}:\n"
        f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    )


def clean_env() -> dict[str, str]:
    """Nothing from this checkout or its virtualenv may leak into the installed package's run."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME") and not k.startswith("SWELL_")
    }
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with Swell installed from a wheel built from a copy of the sources."""
    if not (WEB_BUILD / "index.html").is_file():
        reason = f"the web app is not built ({WEB_BUILD} is missing; `make web` builds it)"
        if in_ci():
            pytest.fail(reason + ": a wheel built now would ship without it")
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp("wheel")
    env = clean_env()
    # Build from a copy: setuptools writes build/ and *.egg-info next to the sources.
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "server",
        src / "server",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", ".built"),
    )
    dist = tmp / "dist"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", dist, src], tmp, env)
    (wheel,) = dist.glob("swell-*.whl")
    target = tmp / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", target], tmp, env)
    # This virtualenv's pip installs into the new one (quicker than bootstrapping a pip there);
    # the dependencies come from the package index, through pip's cache.
    python = target / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", python, "install", "--quiet", wheel], tmp, env)
    return target


@pytest.fixture(scope="module")
def installed_server(venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``swell serve`` from the fresh virtualenv, run outside the checkout; yields its URL."""
    tmp = tmp_path_factory.mktemp("installed-server")
    log_path = tmp / "server.log"
    env = clean_env()
    env["SWELL_LOG_LEVEL"] = "info"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                str(venv / "bin" / "swell"),
                "serve",
                "--port",
                "0",
                "--database-url",
                f"sqlite+aiosqlite:///{tmp / 'swell.db'}",
            ],
            cwd=tmp,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            text = log_path.read_text(errors="replace")
            match = LISTENING.search(text)
            if match:
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the installed swell did not start:\n{text}")
            time.sleep(0.05)
        yield match.group(1)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_the_package_is_installed_from_the_wheel_not_the_checkout(venv: Path) -> None:
    result = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import importlib.resources as r, swell; print(swell.__file__);"
            " print(r.files('swell') / 'web' / 'index.html');"
            " print(r.files('swell') / 'migrations' / 'env.py')",
        ],
        cwd=venv,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    module, index, env_py = (Path(line) for line in result.stdout.split())
    assert module.is_relative_to(venv), module
    assert index.is_file() and env_py.is_file()


async def test_the_installed_package_serves_the_built_web_app(installed_server: str) -> None:
    async with httpx.AsyncClient(base_url=installed_server, timeout=10.0) as client:
        home = await client.get("/")
        assert home.status_code == 200, home.text
        assert home.headers["content-type"].startswith("text/html")
        assert PLACEHOLDER_TEXT not in home.text
        script = re.search(r'<script type="module" src="(/assets/[^"]+\.js)"', home.text)
        assert script, home.text
        asset = await client.get(script.group(1))
        assert asset.status_code == 200 and len(asset.content) > 0
        editor = await client.get("/d/some-document")
        assert editor.status_code == 200 and PLACEHOLDER_TEXT not in editor.text


async def test_the_installed_package_syncs_a_document(installed_server: str) -> None:
    async with httpx.AsyncClient(base_url=installed_server, timeout=10.0) as client:
        response = await client.post("/api/docs", json={"title": "From the wheel"})
        assert response.status_code == 201, response.text
        doc = response.json()
    ws = installed_server.replace("http://", "ws://") + "/ws"
    async with (
        synced_doc(ws, doc["id"], doc["edit_token"]) as (ada, _),
        synced_doc(ws, doc["id"], doc["edit_token"]) as (grace, _),
    ):
        ada.get("text", type=Text).insert(0, "installed, not editable")
        await wait_for(lambda: text_of(grace) == "installed, not editable", "Grace to see it")
