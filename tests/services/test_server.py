"""``make server`` / :mod:`bnstudy.server` against a real PostgreSQL and ``mlflow server``:
stop keeps the data, start reuses it, and each bad input is one clear line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
from mlflow.tracking import MlflowClient

from bnstudy import server
from bnstudy.paths import CODE_ROOT
from tests.conftest import subprocess_env
from tests.services.conftest import run_sweep, server_settings

pytestmark = pytest.mark.services


def _env(s: server.Settings, **extra: str) -> dict[str, str]:
    """The environment that points ``make server`` and ``python -m bnstudy.server`` at ``s``."""
    return {
        **subprocess_env(),
        "BNSTUDY_SERVER_DIR": str(s.root),
        "BNSTUDY_PG_PORT": str(s.pg_port),
        "BNSTUDY_MLFLOW_PORT": str(s.port),
        "BNSTUDY_SERVER_TIMEOUT": str(s.timeout),
        **extra,
    }


def _server_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bnstudy.server", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _make(target: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", "-s", "-C", str(CODE_ROOT), target],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _one_error_line(res: subprocess.CompletedProcess, prefix: str) -> str:
    """The command failed, and said why on exactly one line of stderr (progress lines of a
    sweep, ``[job k/N] ...``, aside)."""
    assert res.returncode != 0, res.stdout + res.stderr
    lines = [
        line for line in res.stderr.splitlines() if line.strip() and not line.startswith("[job ")
    ]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith(prefix), lines[0]
    return lines[0]


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_status_reports_both_services(tracking_server):
    res = _server_cli("status", env=_env(tracking_server))
    assert res.returncode == 0, res.stderr
    assert "running" in res.stdout and "answering" in res.stdout
    assert server.status(tracking_server)["mlflow"] is True


def test_make_server_stop_keeps_the_data_and_make_server_reuses_it(tracking_server):
    s, uri = tracking_server, tracking_server.tracking_uri
    MlflowClient(uri).create_experiment("kept-across-restarts")
    env = _env(s)

    res = _make("server-stop", env)
    assert res.returncode == 0, res.stderr
    assert "mlflow server: stopped; PostgreSQL: stopped" in res.stdout
    assert not _listening(s.port) and not _listening(s.pg_port)
    assert server.postgres_running(s) is None and server.mlflow_running(s) is None
    assert (s.pg_data / "PG_VERSION").exists()
    assert _make("server-status", env).returncode != 0

    started = time.monotonic()
    res = _make("server", env)
    assert res.returncode == 0, res.stderr
    assert f"tracking URI: {uri}" in res.stdout
    print(f"make server on existing data: {time.monotonic() - started:.1f} s")
    assert MlflowClient(uri).get_experiment_by_name("kept-across-restarts") is not None
    # a second `make server` finds it running and returns at once
    res = _make("server", env)
    assert res.returncode == 0 and f"tracking URI: {uri}" in res.stdout


def test_unreachable_tracking_server_is_one_line(workdir):
    closed = f"http://127.0.0.1:{server.free_port()}"
    res = run_sweep(closed, workdir=workdir, conditions=["baseline"], seeds=[0], epochs=1)
    line = _one_error_line(res, "bnstudy: error: tracking.uri:")
    assert "cannot reach" in line and closed in line

    st = _server_cli("status", env=_env(server.Settings(root=workdir / "none", pg_port=1, port=1)))
    assert st.returncode == 3 and "not answering" in st.stdout


@pytest.mark.parametrize("which", ["pg_port", "port"])
def test_port_in_use_is_one_line(service_dir, which):
    s = server_settings(service_dir, f"busy-{which}")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", getattr(s, which)))
        busy.listen()
        try:
            res = _server_cli("start", env=_env(s))
        finally:
            server.stop(s)
    line = _one_error_line(res, "bnstudy.server: error: port")
    assert f"port {getattr(s, which)} on 127.0.0.1 is already in use" in line
    assert not (s.pg_data / "PG_VERSION").exists()  # nothing was started or created


def test_wrong_postgres_password_given_to_bnstudy_server_is_one_line(tracking_server):
    s = tracking_server
    other_port = server.free_port()
    res = _server_cli(
        "start", "--port", str(other_port), env=_env(s, BNSTUDY_PG_PASSWORD="not-the-password")
    )
    line = _one_error_line(res, "bnstudy.server: error: PostgreSQL at")
    assert 'password authentication failed for user "mlflow"' in line
    assert not _listening(other_port)
    assert server.status(s)["mlflow"] is True  # the running server is untouched


def test_wrong_postgres_password_given_to_mlflow_server_is_one_line(tracking_server, tmp_path):
    """mlflow server retries a refused login for ~100 s before it exits; the wait stops at the
    first FATAL error in its log and names it."""
    s = tracking_server
    bad_uri = f"postgresql+psycopg2://{s.user}:Not-The-Pass@127.0.0.1:{s.pg_port}/{s.db}"
    port = server.free_port()
    cmd = server.mlflow_command(port, 1, "--artifacts-destination", str(tmp_path))
    log = tmp_path / "mlflow.log"
    proc = server.launch_mlflow(cmd, log, bad_uri)
    try:
        with pytest.raises(server.ServerError) as err:
            server.wait_for_health(f"http://127.0.0.1:{port}", 120, proc, log)
    finally:
        os.killpg(proc.pid, 9)
        proc.wait()
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("mlflow server cannot use its database: FATAL: ")
    assert 'password authentication failed for user "mlflow"' in message
    assert "Not-The-Pass" not in message  # the password is not shown
