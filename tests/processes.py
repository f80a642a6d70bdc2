"""Servers and processes for the exchange tests: WSGI threads, flask and gunicorn."""

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
from pathlib import Path

from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parents[1]
HUB_PATH = "/api/edoc/v1"
COMMAND_SECONDS = 120


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


def kill_group(process: subprocess.Popen) -> None:
    """Kill the process group at once, as a crash or `kill -9` would."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=10)


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
                + log.read_text(errors="replace")[-3000:]
            )
        time.sleep(0.1)
