"""The README's service session runs as written: Open311 in, routed, answered by the
executor's key, closed in Open311 — with curl against a real ``tsur serve``."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parent.parent / "README.md"


def session() -> str:
    text = README.read_text("utf-8")
    m = re.search(r"<!-- service-session -->\n```bash\n(.*?)\n```", text, re.S)
    assert m, "the README has no service session"
    return m.group(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_readme_service_session_works_as_written(tmp_path: Path) -> None:
    script = session()
    # installed already (this is the test environment); the port is a free one
    script = re.sub(r"^pip install .*$", ":", script, flags=re.M)
    script = script.replace("8080", str(free_port()))
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    for name in ("TSUR_DB", "TSUR_CONFIG"):
        env.pop(name, None)
    proc = subprocess.Popen(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, out
    assert '"service_request_id":"1"' in out, out
    assert '"status":"routed"' in out and '"executor":"adm-tolyatti"' in out, out
    assert [line for line in out.splitlines() if line == "200"] == ["200", "200"], out
    assert '"status":"closed"' in out and "Яма на ул. Мира, 5 заделана" in out, out
