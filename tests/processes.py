"""Servers and processes for the exchange tests: WSGI threads, flask and gunicorn.

bench/exchange.py imports this module too, for its installations and servers.
"""

import contextvars
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parents[1]
HUB_PATH = "/api/edoc/v1"
COMMAND_SECONDS = 120
STARTUP_SECONDS = 30


def free_port() -> int:
    """Return a loopback port that nothing listens on, so connections are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serve_in_thread(wsgi_app, name: str = "hub-server"):
    """Serve a WSGI app on a free loopback port in a thread; yield the base URL."""
    server = make_server("127.0.0.1", 0, wsgi_app, threaded=True)
    # A fresh context keeps the test's app context and database session out
    # of the server thread, as in a real server process.
    thread = threading.Thread(
        target=contextvars.Context().run,
        args=(server.serve_forever,),
        name=name,
        daemon=True,
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def app_spec(instance: Path) -> str:
    """Return the `module:call` string that builds the app on `instance`."""
    return f"vanban:create_app(instance_path={str(instance)!r})"


def flask_command(instance: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", app_spec(instance), *args]


def clean_environment(**settings: str) -> dict[str, str]:
    """Return this environment without settings of ours, plus `settings`."""
    result = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("VANBAN_", "FLASK_", "WERKZEUG_"))
    }
    result["PYTHONPATH"] = str(ROOT)
    result.update(settings)
    return result


def run_flask(instance: Path, env: dict[str, str], *args: str) -> str:
    """Run a `flask` command to its end, check it succeeded and return its output."""
    result = subprocess.run(
        flask_command(instance, *args),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_SECONDS,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"flask {args} failed:\n{output}"
    return output


def start_process(command: list[str], env: dict, log: Path) -> subprocess.Popen:
    """Start a command in its own process group, appending its output to `log`."""
    with open(log, "ab") as output:
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_process_group(process: subprocess.Popen, timeout: float = 10) -> int:
    """Send SIGTERM to the process group, then SIGKILL if it is still running."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    # Workers left behind by a stopped master go with the group.
    kill_group(process)
    return process.returncode


def start_gunicorn(
    spec: str, port: int, env: dict, log: Path, ready_path: str = "/"
) -> subprocess.Popen:
    """Start gunicorn in its own process group and wait until it serves `ready_path`.

    It runs two workers with four threads each, so that a request that calls
    the installation's own hub is served while it waits.
    """
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        "2",
        "--threads",
        "4",
        "--bind",
        f"127.0.0.1:{port}",
        "--graceful-timeout",
        "5",
        # The control socket's default path is shared by every gunicorn.
        "--no-control-socket",
        spec,
    ]
    server = start_process(command, env, log)
    url = f"http://127.0.0.1:{port}{ready_path}"
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn for {spec} exited:\n{log_tail(log)}")
        try:
            if requests.get(url, timeout=5).ok:
                return server
        except requests.RequestException:
            # Not listening yet, or its workers are still loading the app.
            pass
        time.sleep(0.2)
    stop_process_group(server)
    raise RuntimeError(
        f"gunicorn did not serve {url} within {STARTUP_SECONDS} s:\n{log_tail(log)}"
    )


def cpu_seconds(process: subprocess.Popen) -> float:
    """Return the CPU seconds used so far by a process and its live children.

    It reads /proc, so it runs on Linux only. Gunicorn's workers are the
    master's children.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    pids = [process.pid]
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    pids += [int(pid) for pid in children.read_text().split()]
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            continue
        # utime and stime are the 14th and 15th fields of the line. The split
        # starts after the command name, which is in parentheses.
        fields = stat[stat.rindex(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def kill_group(process: subprocess.Popen) -> None:
    """Kill the process group at once, as a crash or `kill -9` would."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=10)


def log_tail(log: Path, chars: int = 6000) -> str:
    """Return the last `chars` characters of a log file, or "" if it does not exist."""
    if not log.exists():
        return ""
    return log.read_text(errors="replace")[-chars:]


def wait_for_log(log: Path, pattern: str, count: int = 1, timeout: float = 20):
    """Wait until `pattern` matches `count` times in the log, and return the matches."""
    deadline = time.monotonic() + timeout
    while True:
        matches = re.findall(pattern, log.read_text(errors="replace"))
        if len(matches) >= count:
            return matches
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{count} lines matching {pattern!r} not logged within {timeout} s:\n"
                + log_tail(log, 3000)
            )
        time.sleep(0.1)


@dataclass
class Installation:
    """One VanBan installation: its folder, SQLite database, settings and server.

    The real CLI prepares it and gunicorn serves it on 127.0.0.1.
    """

    name: str
    folder: Path
    hub_enabled: bool = False
    # The connector's CONNECTOR_PARALLEL_CALLS, or None for the application's default.
    parallel_calls: int | None = None
    port: int = field(default_factory=free_port)
    server: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def hub_url(self) -> str:
        return f"{self.base_url}{HUB_PATH}"

    @property
    def instance(self) -> Path:
        # The factory call gives the installation its own instance folder.
        return self.folder / "instance"

    @property
    def database_path(self) -> Path:
        return self.folder / "vanban.sqlite"

    @property
    def log_path(self) -> Path:
        return self.folder / "server.log"

    def environment(self) -> dict[str, str]:
        settings = {
            "VANBAN_DATABASE_URL": f"sqlite:///{self.database_path}",
            "VANBAN_SECRET_KEY": f"test-secret-{self.name}",
            "VANBAN_HUB_ENABLED": "true" if self.hub_enabled else "false",
            "VANBAN_SCHEDULER_ENABLED": "false",
        }
        if self.parallel_calls is not None:
            settings["VANBAN_CONNECTOR_PARALLEL_CALLS"] = str(self.parallel_calls)
        return clean_environment(**settings)

    def cli(self, *args: str) -> str:
        """Run a `flask` command of this installation and return its output."""
        return run_flask(self.instance, self.environment(), *args)

    def prepare(self, *seed_args: str) -> None:
        """Create the folder and database, load the demo data and start the server.

        `seed_args` are the options of `flask seed-demo`.
        """
        self.folder.mkdir()
        self.cli("init-db")
        self.cli("seed-demo", *seed_args)
        self.start()

    def start(self) -> None:
        self.server = start_gunicorn(
            app_spec(self.instance),
            self.port,
            self.environment(),
            self.log_path,
            ready_path="/login",
        )

    def stop(self) -> None:
        if self.server is not None:
            stop_process_group(self.server, timeout=15)

    def log(self) -> str:
        return log_tail(self.log_path)

    def add_org(self, code: str, name: str, parent: str | None) -> str:
        """Register an organisation at this installation's hub and return its token."""
        args = ["hub", "add-org", code, name]
        if parent:
            args += ["--parent", parent]
        output = self.cli(*args)
        match = re.search(r"^Mã truy cập \(.*\): (\S+)$", output, re.MULTILINE)
        assert match, output
        return match.group(1)

    def connect(self, code: str, hub_url: str, token: str) -> None:
        """Connect organisation `code` of this installation to the hub at `hub_url`."""
        output = self.cli(
            "exchange", "connect", "--org", code, "--hub", hub_url, "--token", token
        )
        assert "Kết nối thành công" in output, output

    def sync(self, organisation_code: str | None = None) -> str:
        """Push and poll now with `exchange sync`, for one organisation or all."""
        args = ["exchange", "sync"]
        if organisation_code:
            args += ["--org", organisation_code]
        return self.cli(*args)
