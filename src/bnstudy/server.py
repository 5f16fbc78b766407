"""A shared MLflow tracking server: a real PostgreSQL plus ``mlflow server`` with proxied artifacts.

``make server`` (``python -m bnstudy.server start``) starts both in the background, with
everything under ``.server/`` in the workspace::

    .server/pg/            PostgreSQL data directory (owned by the ``postgres`` user under root)
    .server/postgres.log   PostgreSQL's log
    .server/artifacts/     run artifacts, uploaded through the server (proxied)
    .server/mlflow.log     mlflow server's log;  .server/mlflow.pid  its process (group) id
    .server/pg-password    the MLflow database role's password (made on first start, 0600)

and returns once MLflow's ``/health`` answers. ``stop`` stops both and keeps the data; the next
``start`` reuses it. Ports and paths come from arguments, else from ``BNSTUDY_SERVER_DIR``,
``BNSTUDY_PG_PORT`` (55432), ``BNSTUDY_MLFLOW_PORT`` (5001), ``BNSTUDY_PG_PASSWORD``,
``BNSTUDY_MLFLOW_WORKERS`` (2) and ``BNSTUDY_SERVER_TIMEOUT`` (180 s). Every failure is a
:class:`ServerError` whose message is one line; the command line prints it and exits 1.

PostgreSQL comes from Debian's ``postgresql`` package (installed with apt-get when missing and
running as root). ``initdb`` refuses to run as root, so under root the server runs as the
``postgres`` system user and owns its data directory.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from bnstudy.paths import CODE_ROOT

HOST = "127.0.0.1"
PG_SYSTEM_USER = "postgres"
#: PostgreSQL's superuser (reached only through the Unix socket in the data directory).
PG_SUPERUSER = "postgres"
#: Background jobs are for MLflow's GenAI features; off, the server starts ~10 s sooner and
#: uses ~1 GB less memory (7 job-queue processes).
MLFLOW_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
#: The line written to mlflow.log before each launch.
LAUNCH_MARK = "--- bnstudy.server: launching mlflow server"


class ServerError(RuntimeError):
    """A failure to report as one line (and exit status 1)."""


@dataclass(frozen=True)
class Settings:
    """Where the server keeps its data and which loopback ports it listens on."""

    root: Path
    pg_port: int = 55432
    port: int = 5001
    db: str = "mlflow"
    user: str = "mlflow"
    #: None: the password stored in ``<root>/pg-password`` (made on first start).
    password: str | None = None
    workers: int = 2
    timeout: float = 180.0

    @classmethod
    def from_env(cls, **overrides) -> Settings:
        """Defaults, overridden by ``BNSTUDY_*`` environment variables, then by ``overrides``
        (keys with value None are ignored)."""
        env = os.environ

        def number(var: str, default, kind=int):
            try:
                return kind(env.get(var) or default)
            except ValueError:
                raise ServerError(f"{var}={env[var]!r} is not a number") from None

        values = {
            "root": Path(env.get("BNSTUDY_SERVER_DIR") or CODE_ROOT / ".server"),
            "pg_port": number("BNSTUDY_PG_PORT", cls.pg_port),
            "port": number("BNSTUDY_MLFLOW_PORT", cls.port),
            "password": env.get("BNSTUDY_PG_PASSWORD") or None,
            "workers": number("BNSTUDY_MLFLOW_WORKERS", cls.workers),
            "timeout": number("BNSTUDY_SERVER_TIMEOUT", cls.timeout, float),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        values["root"] = Path(values["root"]).resolve()
        return cls(**values)

    @property
    def pg_data(self) -> Path:
        return self.root / "pg"

    @property
    def pg_log(self) -> Path:
        return self.root / "postgres.log"

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    @property
    def mlflow_log(self) -> Path:
        return self.root / "mlflow.log"

    @property
    def mlflow_pid(self) -> Path:
        return self.root / "mlflow.pid"

    @property
    def password_file(self) -> Path:
        return self.root / "pg-password"

    @property
    def tracking_uri(self) -> str:
        return f"http://{HOST}:{self.port}"

    def backend_uri(self) -> str:
        """The SQLAlchemy URI of MLflow's database (with the role's password)."""
        user, password = quote(self.user, safe=""), quote(self.role_password(), safe="")
        return f"postgresql+psycopg2://{user}:{password}@{HOST}:{self.pg_port}/{self.db}"

    def role_password(self) -> str:
        if self.password is not None:
            return self.password
        if not self.password_file.exists():
            raise ServerError(f"no PostgreSQL password: {self.password_file} is missing")
        return self.password_file.read_text().strip()


# --- PostgreSQL ----------------------------------------------------------------------------


def postgres_bin(install: bool = True) -> Path:
    """The folder with ``initdb`` and ``pg_ctl`` (``BNSTUDY_PG_BIN``, else Debian's newest
    ``/usr/lib/postgresql/<version>/bin``); installs Debian's ``postgresql`` when missing."""
    if os.environ.get("BNSTUDY_PG_BIN"):
        found = Path(os.environ["BNSTUDY_PG_BIN"])
        if not (found / "initdb").exists():
            raise ServerError(f"BNSTUDY_PG_BIN={found}: no initdb there")
        return found
    found = _debian_postgres_bin()
    if found is None and install:
        apt_install(["postgresql"])
        found = _debian_postgres_bin()
    if found is None:
        raise ServerError("PostgreSQL is not installed: no /usr/lib/postgresql/*/bin/initdb")
    return found


def _debian_postgres_bin() -> Path | None:
    versions = sorted(
        (p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/initdb")),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    return versions[-1] if versions else None


def apt_install(packages: Sequence[str]) -> None:
    """``apt-get update`` then ``apt-get install -y packages`` (as root, non-interactive)."""
    what = " ".join(packages)
    if os.geteuid() != 0:
        raise ServerError(f"{what} is not installed; install it as root: apt-get install {what}")
    if shutil.which("apt-get") is None:
        raise ServerError(f"{what} is not installed and there is no apt-get to install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print(f"installing {what} with apt-get ...", file=sys.stderr, flush=True)
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *packages]):
        res = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if res.returncode != 0:
            raise ServerError(
                f"`{' '.join(cmd)}` failed (status {res.returncode}): "
                f"{_last_line(res.stderr or res.stdout)}"
            )


def _pg_run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run a PostgreSQL program as the ``postgres`` system user when we are root."""
    if os.geteuid() == 0:
        kwargs.update(user=PG_SYSTEM_USER, group=_pg_group(), extra_groups=[])
    return subprocess.run(cmd, capture_output=True, text=True, cwd="/", **kwargs)


def _pg_group() -> int:
    return pwd.getpwnam(PG_SYSTEM_USER).pw_gid


def _ensure_system_user() -> None:
    """Under root: the ``postgres`` user exists (Debian's package makes it)."""
    if os.geteuid() != 0:
        return
    try:
        pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        pass
    else:
        return
    cmd = ["useradd", "--system", "--user-group", "--no-create-home", PG_SYSTEM_USER]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise ServerError(f"cannot create user {PG_SYSTEM_USER}: {_last_line(res.stderr)}")


def _own(path: Path, mode: int) -> None:
    path.chmod(mode)
    if os.geteuid() == 0:
        shutil.chown(path, PG_SYSTEM_USER, _pg_group())


def postgres_running(s: Settings) -> int | None:
    """The port of the PostgreSQL running from ``s.pg_data``, or None."""
    pidfile = s.pg_data / "postmaster.pid"
    try:
        lines = pidfile.read_text().splitlines()
    except (FileNotFoundError, PermissionError):
        return None
    if len(lines) < 4 or not _alive(int(lines[0])):
        return None
    return int(lines[3])


def start_postgres(s: Settings) -> None:
    """Initialise ``s.pg_data`` on first use, start PostgreSQL on 127.0.0.1:``s.pg_port``
    (unless it runs already), and create MLflow's role and database if missing."""
    running = postgres_running(s)
    if running is None:
        _start_cluster(s)
    elif running != s.pg_port:
        raise ServerError(
            f"PostgreSQL from {s.pg_data} already runs on port {running}, not {s.pg_port}; "
            "stop it first (make server-stop)"
        )
    _create_role_and_db(s)


def _start_cluster(s: Settings) -> None:
    pg_bin = postgres_bin()
    _ensure_system_user()
    s.root.mkdir(parents=True, exist_ok=True)
    sock = s.pg_data / f".s.PGSQL.{s.pg_port}"
    if len(str(sock)) > 100:
        raise ServerError(f"{s.pg_data}: path too long for PostgreSQL's socket; use a shorter one")
    _check_port_free(s.pg_port, "PostgreSQL", "BNSTUDY_PG_PORT")
    if not (s.pg_data / "PG_VERSION").exists():
        _init_cluster(s, pg_bin)
    s.pg_log.touch()
    _own(s.pg_log, 0o640)
    opts = (
        f"-p {s.pg_port} -c listen_addresses={HOST} "
        f"-c unix_socket_directories={shlex.quote(str(s.pg_data))}"
    )
    res = _pg_run(
        [
            *(str(pg_bin / "pg_ctl"), "start", "-D", str(s.pg_data), "-l", str(s.pg_log)),
            *("-w", "-t", str(int(s.timeout)), "-o", opts),
        ]
    )
    if res.returncode != 0:
        log = _last_line(_tail(s.pg_log)) or _last_line(res.stderr or res.stdout)
        raise ServerError(f"PostgreSQL did not start: {log} (log: {s.pg_log})")


def _init_cluster(s: Settings, pg_bin: Path) -> None:
    """initdb: the superuser only through the Unix socket in the data directory (mode 0700);
    over TCP, password (scram-sha-256) logins only."""
    s.pg_data.mkdir(exist_ok=True)
    _own(s.pg_data, 0o700)
    if os.geteuid() == 0:
        probe = _pg_run(["test", "-w", str(s.pg_data)])
        if probe.returncode != 0:
            raise ServerError(
                f"user {PG_SYSTEM_USER} cannot reach {s.pg_data}: let it through the folders "
                "above (chmod o+x) or set BNSTUDY_SERVER_DIR elsewhere"
            )
    res = _pg_run(
        [
            *(str(pg_bin / "initdb"), "-D", str(s.pg_data), "-U", PG_SUPERUSER, "-E", "UTF8"),
            *("--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256", "--no-instructions"),
        ]
    )
    if res.returncode != 0:
        shutil.rmtree(s.pg_data, ignore_errors=True)
        raise ServerError(f"initdb failed: {_last_line(res.stderr or res.stdout)}")
    s.password_file.touch(mode=0o600)
    s.password_file.write_text((s.password or secrets.token_urlsafe(18)) + "\n")


def _create_role_and_db(s: Settings) -> None:
    """MLflow's login role and database (owned by it), as the superuser over the socket."""
    import psycopg2
    from psycopg2 import sql

    try:
        conn = psycopg2.connect(
            host=str(s.pg_data), port=s.pg_port, user=PG_SUPERUSER, dbname="postgres"
        )
        conn.autocommit = True  # CREATE DATABASE cannot run in a transaction
        try:
            cur = conn.cursor()
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (s.user,))
            if cur.fetchone() is None:
                cur.execute(
                    sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s").format(sql.Identifier(s.user)),
                    (s.role_password(),),
                )
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (s.db,))
            if cur.fetchone() is None:
                cur.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(s.db), sql.Identifier(s.user)
                    )
                )
        finally:
            conn.close()
    except psycopg2.Error as exc:
        reason = " ".join(str(exc).split())
        raise ServerError(f"cannot create MLflow's role and database: {reason}") from None


def check_backend(s: Settings) -> None:
    """Log in to MLflow's database as MLflow will; a refusal becomes one line."""
    import psycopg2

    try:
        psycopg2.connect(
            host=HOST,
            port=s.pg_port,
            user=s.user,
            password=s.role_password(),
            dbname=s.db,
            connect_timeout=10,
        ).close()
    except psycopg2.OperationalError as exc:
        reason = " ".join(str(exc).split())
        reason = reason.split("failed: ", 1)[-1]
        raise ServerError(
            f"PostgreSQL at {HOST}:{s.pg_port} refused user {s.user!r} on database "
            f"{s.db!r}: {reason}"
        ) from None


def stop_postgres(s: Settings) -> bool:
    """Stop the PostgreSQL of ``s.pg_data`` (fast shutdown); False if it was not running."""
    if postgres_running(s) is None:
        return False
    cmd = [str(postgres_bin(install=False) / "pg_ctl"), "stop", "-D", str(s.pg_data)]
    res = _pg_run([*cmd, "-m", "fast", "-w", "-t", "60"])
    if res.returncode != 0:
        # e.g. the postgres user lost its way to the data directory: signal the postmaster
        # ourselves (SIGINT is PostgreSQL's fast shutdown)
        pid = int((s.pg_data / "postmaster.pid").read_text().split()[0])
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + 60
        while _alive(pid):
            if time.monotonic() > deadline:
                why = _last_line(res.stderr or res.stdout)
                raise ServerError(f"PostgreSQL (pid {pid}) did not stop: {why}")
            time.sleep(0.2)
    return True


# --- mlflow server -------------------------------------------------------------------------


def mlflow_command(port: int, workers: int, *store_args: str) -> list[str]:
    """``mlflow server`` on 127.0.0.1:``port`` (the venv's, next to this Python). The backend
    store URI goes in the environment (:func:`launch_mlflow`), so its password is not in
    ``ps``."""
    exe = Path(sys.executable).parent / "mlflow"
    return [
        str(exe if exe.exists() else "mlflow"),
        "server",
        *store_args,
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]


def _mlflow_env(backend_uri: str) -> dict[str, str]:
    return {**os.environ, **MLFLOW_ENV, "MLFLOW_BACKEND_STORE_URI": backend_uri}


def launch_mlflow(cmd: list[str], log: Path, backend_uri: str) -> subprocess.Popen:
    """Start ``cmd`` on the store ``backend_uri`` in its own process group, output appended to
    ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        out.write(f"{LAUNCH_MARK} {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
        out.flush()
        return subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=_mlflow_env(backend_uri),
            start_new_session=True,
        )


def wait_for_health(
    url: str,
    timeout: float,
    proc: subprocess.Popen | None = None,
    log: Path | None = None,
) -> float:
    """Poll ``url/health`` until it answers 200; the seconds it took.

    Raises ServerError if ``proc`` exits first, as soon as ``log`` shows a FATAL error from
    PostgreSQL (a refused password: mlflow server would retry it for ~100 s before exiting),
    or after ``timeout`` seconds; the message ends with the log's last error line."""
    start = time.monotonic()
    while True:
        if proc is not None and proc.poll() is not None:
            raise ServerError(_why(f"mlflow server exited with status {proc.returncode}", log))
        fatal = _fatal_line(_tail(log)) if log else ""
        if fatal:
            raise ServerError(f"mlflow server cannot use its database: {fatal} (log: {log})")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=5) as resp:
                if resp.status == 200:
                    return time.monotonic() - start
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() - start > timeout:
            raise ServerError(_why(f"MLflow at {url} did not answer within {timeout:.0f} s", log))
        time.sleep(0.5)


def _why(what: str, log: Path | None) -> str:
    """``what``, the log's last error line and where the log is, on one line."""
    if log is None:
        return what
    reason = _error_line(_tail(log))
    return f"{what}: {reason} (log: {log})" if reason else f"{what} (log: {log})"


def mlflow_running(s: Settings) -> tuple[int, int] | None:
    """(process group id, port) of the running ``mlflow server`` of ``s``, or None."""
    try:
        pid, port = (int(v) for v in s.mlflow_pid.read_text().split()[:2])
    except (FileNotFoundError, ValueError):
        return None
    return (pid, port) if _alive(pid) else None


def start_mlflow(s: Settings) -> float:
    """Start ``mlflow server`` on the PostgreSQL store (artifacts proxied to ``s.artifacts``)
    unless it already runs; wait for ``/health``. Returns the seconds waited."""
    running = mlflow_running(s)
    if running is not None:
        if running[1] != s.port:
            raise ServerError(
                f"mlflow server of {s.root} already runs on port {running[1]}, not {s.port}; "
                "stop it first (make server-stop)"
            )
        return wait_for_health(s.tracking_uri, s.timeout, log=s.mlflow_log)
    _check_port_free(s.port, "MLflow", "BNSTUDY_MLFLOW_PORT")
    s.artifacts.mkdir(parents=True, exist_ok=True)
    cmd = mlflow_command(s.port, s.workers, "--artifacts-destination", str(s.artifacts))
    proc = launch_mlflow(cmd, s.mlflow_log, s.backend_uri())
    s.mlflow_pid.write_text(f"{proc.pid} {s.port}\n")
    _CHILDREN[proc.pid] = proc
    try:
        return wait_for_health(s.tracking_uri, s.timeout, proc, s.mlflow_log)
    except BaseException:
        stop_mlflow(s)
        raise


def stop_mlflow(s: Settings, grace: float = 30.0) -> bool:
    """SIGTERM the server's process group, SIGKILL after ``grace`` s; False if not running."""
    running = mlflow_running(s)
    s.mlflow_pid.unlink(missing_ok=True)
    if running is None:
        return False
    _stop_group(running[0], grace)
    return True


#: Servers started by this process, so that their exit can be reaped (no zombies).
_CHILDREN: dict[int, subprocess.Popen] = {}


def _stop_group(pid: int, grace: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while group_alive(pid):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
        time.sleep(0.2)
    _CHILDREN.pop(pid, None)


def group_alive(pgid: int) -> bool:
    """Whether any process of the group is still running (zombies do not count)."""
    proc = _CHILDREN.get(pgid)
    if proc is not None:
        proc.poll()  # reap the leader if it is our child
    return any(_state(pid) not in ("Z", None) for pid in _group_members(pgid))


def _group_members(pgid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) == pgid:
                    out.append(int(entry.name))
    return out


def _state(pid: int) -> str | None:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def _alive(pid: int) -> bool:
    proc = _CHILDREN.get(pid)
    if proc is not None and proc.poll() is not None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _state(pid) not in ("Z", None)


# --- the whole server ----------------------------------------------------------------------


def start(s: Settings | None = None) -> str:
    """PostgreSQL, then ``mlflow server`` on it; returns the tracking URI once ``/health``
    answers. Reuses what is already running and the data of an earlier start."""
    s = s or Settings.from_env()
    if postgres_running(s) is None:
        _check_port_free(s.pg_port, "PostgreSQL", "BNSTUDY_PG_PORT")
    if mlflow_running(s) is None:
        _check_port_free(s.port, "MLflow", "BNSTUDY_MLFLOW_PORT")
    start_postgres(s)
    check_backend(s)
    start_mlflow(s)
    return s.tracking_uri


def stop(s: Settings | None = None) -> dict[str, bool]:
    """Stop ``mlflow server``, then PostgreSQL (data kept): what was running."""
    s = s or Settings.from_env()
    return {"mlflow": stop_mlflow(s), "postgres": stop_postgres(s)}


def status(s: Settings | None = None) -> dict[str, object]:
    """Whether PostgreSQL runs from ``s.pg_data`` and MLflow answers ``/health``."""
    s = s or Settings.from_env()
    try:
        wait_for_health(s.tracking_uri, 0)
        healthy = True
    except ServerError:
        healthy = False
    return {
        "postgres": postgres_running(s) is not None,
        "mlflow": healthy,
        "uri": s.tracking_uri,
        "pg_port": s.pg_port,
        "root": str(s.root),
    }


def serve_ui(backend_uri: str, artifact_root: str, port: int, timeout: float) -> int:
    """``make ui``: ``mlflow server`` in the foreground on a local store; says it is ready only
    once ``/health`` answers; Ctrl-C stops it."""
    cmd = mlflow_command(port, 2, "--default-artifact-root", artifact_root)
    proc = subprocess.Popen(cmd, env=_mlflow_env(backend_uri))
    url = f"http://{HOST}:{port}"
    try:
        took = wait_for_health(url, timeout, proc)
        print(f"MLflow UI ready at {url} after {took:.0f} s (Ctrl-C to stop)", flush=True)
        return proc.wait()
    except BaseException:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        raise


# --- helpers -------------------------------------------------------------------------------


def _check_port_free(port: int, what: str, env_var: str) -> None:
    """Fail if something listens on ``port`` (SO_REUSEADDR, as servers bind: connections
    of a server that just stopped, left in TIME_WAIT, do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            raise ServerError(
                f"port {port} on {HOST} is already in use, so {what} cannot listen there; "
                f"free it or choose another port ({env_var})"
            ) from None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _tail(path: Path | None, size: int = 20_000) -> str:
    """The end of a log, from the last launch of mlflow server on (earlier runs' errors are
    not this one's)."""
    if path is None:
        return ""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - size))
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    return text.rsplit(LAUNCH_MARK, 1)[-1]


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


#: PostgreSQL FATAL errors that go away by themselves (a server starting or stopping).
_TRANSIENT = ("starting up", "shutting down", "in recovery mode")


def _fatal_line(text: str) -> str:
    """The last line with a lasting PostgreSQL ``FATAL:`` error ('' if none)."""
    lines = [" ".join(line.split()) for line in text.splitlines() if "FATAL:" in line]
    lines = [line for line in lines if not any(t in line for t in _TRANSIENT)]
    if not lines:
        return ""
    return "FATAL: " + lines[-1].split("FATAL:", 1)[1].strip()


def _error_line(text: str) -> str:
    """The most telling line of a server's log: the last FATAL, else Error, line ('' if none)."""
    lines = [" ".join(line.split()) for line in text.splitlines() if line.strip()]
    for marker in ("FATAL:", "Error:", "ERROR"):
        hits = [line for line in lines if marker in line]
        if hits:
            return hits[-1]
    return ""


def main(argv: list[str] | None = None) -> int:
    """``python -m bnstudy.server {start,stop,status,ui}``."""
    parser = argparse.ArgumentParser(prog="python -m bnstudy.server", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("start", "start PostgreSQL and mlflow server; print the tracking URI"),
        ("stop", "stop both (the data is kept)"),
        ("status", "exit 0 if both run, 3 if not"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("--dir", type=Path, help="data folder (BNSTUDY_SERVER_DIR, .server)")
        p.add_argument("--port", type=int, help="MLflow port (BNSTUDY_MLFLOW_PORT, 5001)")
        p.add_argument("--pg-port", type=int, help="PostgreSQL port (BNSTUDY_PG_PORT, 55432)")
        p.add_argument("--timeout", type=float, help="seconds to wait (BNSTUDY_SERVER_TIMEOUT)")
    p = sub.add_parser("ui", help="serve the UI on a local store in the foreground")
    p.add_argument("--backend-store-uri", required=True)
    p.add_argument("--default-artifact-root", required=True)
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--timeout", type=float, default=180.0)
    args = parser.parse_args(argv)
    try:
        if args.command == "ui":
            return serve_ui(
                args.backend_store_uri, args.default_artifact_root, args.port, args.timeout
            )
        s = Settings.from_env(
            root=args.dir, port=args.port, pg_port=args.pg_port, timeout=args.timeout
        )
        if args.command == "start":
            t0 = time.monotonic()
            uri = start(s)
            print(
                f"MLflow tracking server ready after {time.monotonic() - t0:.0f} s\n"
                f"  tracking URI: {uri}\n"
                f"  use it: bnstudy-train ... tracking=server  (or tracking.uri={uri},\n"
                f"          or export MLFLOW_TRACKING_URI={uri})\n"
                f"  data: {s.root} (PostgreSQL on {HOST}:{s.pg_port}); stop: make server-stop"
            )
            return 0
        if args.command == "stop":
            was = stop(s)
            print(
                f"mlflow server: {'stopped' if was['mlflow'] else 'was not running'}; "
                f"PostgreSQL: {'stopped' if was['postgres'] else 'was not running'} "
                f"(data kept in {s.root})"
            )
            return 0
        st = status(s)
        print(
            f"PostgreSQL ({HOST}:{st['pg_port']}, {st['root']}): "
            f"{'running' if st['postgres'] else 'not running'}\n"
            f"MLflow ({st['uri']}): {'answering' if st['mlflow'] else 'not answering'}"
        )
        return 0 if st["postgres"] and st["mlflow"] else 3
    except ServerError as exc:
        print(f"bnstudy.server: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
