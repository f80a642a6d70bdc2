"""Time the document exchange between two installations against plain HTTP.

A city installation serves the hub and a ward installation polls it, each a
gunicorn process on 127.0.0.1 with its own SQLite database, prepared with the
CLI as tests/test_two_installations.py does. The sender's clerk composes and
issues N documents, each with one 1 MiB PDF of random bytes, through the
service layer without delivering them. The script then times `flask exchange
sync` on the sender (push) and on the receiver (poll), repeating each command
until every document has moved, because one run moves at most the
connector's batch size (100 by default).

For comparison it posts N bodies of the same size to a minimal WSGI app under
gunicorn that writes each body to a file, using one requests.Session.

Run from the repository root: `python bench/exchange.py --count 100`.
"""

import argparse
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
HUB_PATH = "/api/edoc/v1"
CITY_CODE = "000.00.00.H01"
CITY_NAME = "UBND Thành phố Hà Nội"
WARD_SLUG = "badinh"
WARD_CODE = "000.01.01.H01"
WARD_NAME = "UBND Phường Ba Đình"
SENDER_USERNAME = "thanhpho.vanthu"
MIB = 1024 * 1024
STARTUP_SECONDS = 30
# Creating 1,000 documents of 1 MiB takes minutes on a small machine.
CREATE_SECONDS = 3600
SYNC_SECONDS = 600
# Runs in a row that move nothing before the script stops with an error.
MAX_IDLE_SYNC_RUNS = 3

SINK_APP = """\
import os
import uuid

FOLDER = os.environ["SINK_FOLDER"]


def app(environ, start_response):
    if environ["REQUEST_METHOD"] != "POST":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ready"]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    stream = environ["wsgi.input"]
    path = os.path.join(FOLDER, uuid.uuid4().hex)
    with open(path, "wb") as out:
        remaining = length
        while remaining:
            chunk = stream.read(min(remaining, 1024 * 1024))
            if not chunk:
                break
            out.write(chunk)
            remaining -= len(chunk)
    start_response("201 Created", [("Content-Type", "text/plain")])
    return [b"stored"]
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def pdf_bytes(size: int) -> bytes:
    """Build a minimal valid one-page PDF of exactly `size` bytes.

    Its one stream contains random bytes, so the file does not compress, and the
    upload check accepts it because it starts with the PDF header.
    """
    payload_length = size - len(_pdf_with_payload(b""))
    if payload_length < 0:
        raise ValueError(f"size {size} is smaller than an empty PDF")
    data = _pdf_with_payload(os.urandom(payload_length))
    if len(data) != size:
        raise AssertionError(f"built {len(data)} bytes, expected {size}")
    return data


def _pdf_with_payload(payload: bytes) -> bytes:
    # The stream length is written with 8 digits so that the overhead does not
    # depend on the payload size.
    objects = [
        b"<</Type/Catalog/Pages 2 0 R>>",
        b"<</Type/Pages/Kids[3 0 R]/Count 1>>",
        b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]/Contents 4 0 R>>",
        b"<</Length %08d>>\nstream\n" % len(payload) + payload + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref_offset = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<</Size %d/Root 1 0 R>>\n" % (len(objects) + 1)
    out += b"startxref\n%010d\n%%%%EOF\n" % xref_offset
    return bytes(out)


@dataclass
class Installation:
    """One VanBan installation: its folder, SQLite database and gunicorn server."""

    name: str
    folder: Path
    hub_enabled: bool = False
    port: int = field(default_factory=free_port)
    server: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def instance_path(self) -> Path:
        return self.folder / "instance"

    @property
    def database_path(self) -> Path:
        return self.folder / "vanban.sqlite"

    @property
    def app_spec(self) -> str:
        return f"vanban:create_app(instance_path={str(self.instance_path)!r})"

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VANBAN_")}
        env.update(
            PYTHONPATH=str(REPO),
            VANBAN_DATABASE_URL=f"sqlite:///{self.database_path}",
            VANBAN_SECRET_KEY=f"bench-secret-{self.name}",
            VANBAN_HUB_ENABLED="true" if self.hub_enabled else "false",
            VANBAN_SCHEDULER_ENABLED="false",
        )
        return env

    def cli(self, *args: str, timeout: float = 300, profile: Path | None = None) -> str:
        """Run a `flask` command of this installation and return its output.

        With `profile`, run it under cProfile and write the statistics there.
        """
        profiler = ["-m", "cProfile", "-o", str(profile)] if profile else []
        result = subprocess.run(
            [sys.executable, *profiler, "-m", "flask", "--app", self.app_spec, *args],
            cwd=REPO,
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        output = result.stdout + result.stderr
        if result.returncode != 0:
            raise RuntimeError(f"{self.name}: flask {' '.join(args)} failed:\n{output}")
        return output

    def start(self) -> None:
        self.server = start_gunicorn(
            self.app_spec, self.port, self.environment(), self.folder / "server.log"
        )

    def stop(self) -> None:
        stop_process_group(self.server)

    def count(self, query: str, *params) -> int:
        with sqlite3.connect(self.database_path) as connection:
            return connection.execute(query, params).fetchone()[0]


def start_gunicorn(app_spec: str, port: int, env: dict, log_path: Path):
    """Start gunicorn in its own process group and wait until it accepts requests.

    Two workers with four threads each, as the two-installation test runs them.
    """
    with log_path.open("ab") as log:
        server = subprocess.Popen(
            [
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
                "--no-control-socket",
                app_spec,
            ],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited:\n{log_path.read_text()[-3000:]}")
        try:
            requests.get(f"http://127.0.0.1:{port}/", timeout=5)
            return server
        except requests.RequestException:
            time.sleep(0.2)
    stop_process_group(server)
    raise RuntimeError(f"gunicorn did not start in {STARTUP_SECONDS} s")


def stop_process_group(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def add_org(city: Installation, code: str, name: str, parent: str | None) -> str:
    """Register an organisation at the hub and return the token that it prints."""
    args = ["hub", "add-org", code, name]
    if parent:
        args += ["--parent", parent]
    output = city.cli(*args)
    match = re.search(r"^Mã truy cập \(.*\): (\S+)$", output, re.MULTILINE)
    if not match:
        raise RuntimeError(f"no token in the output of hub add-org:\n{output}")
    return match.group(1)


def connect(installation: Installation, code: str, hub_url: str, token: str) -> None:
    output = installation.cli(
        "exchange", "connect", "--org", code, "--hub", hub_url, "--token", token
    )
    if "Kết nối thành công" not in output:
        raise RuntimeError(f"exchange connect failed:\n{output}")


def prepare(city: Installation, ward: Installation) -> None:
    for installation, seed in (
        (city, ["--only", "city"]),
        (ward, ["--only", "wards", "--ward", WARD_SLUG]),
    ):
        installation.folder.mkdir()
        installation.cli("init-db")
        installation.cli("seed-demo", *seed)
        installation.start()
    hub_url = f"{city.base_url}{HUB_PATH}"
    city_token = add_org(city, CITY_CODE, CITY_NAME, None)
    ward_token = add_org(city, WARD_CODE, WARD_NAME, CITY_CODE)
    connect(city, CITY_CODE, hub_url, city_token)
    connect(ward, WARD_CODE, hub_url, ward_token)


def create_documents(city: Installation, count: int) -> float:
    """Compose and issue `count` documents at the sender and return the seconds."""
    started = time.monotonic()
    with (city.folder / "create-documents.log").open("ab") as log:
        subprocess.run(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "create-documents",
                "--instance-path",
                str(city.instance_path),
                "--count",
                str(count),
            ],
            cwd=REPO,
            env=city.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            check=True,
            timeout=CREATE_SECONDS,
        )
    return time.monotonic() - started


def create_documents_here(instance_path: str, count: int) -> None:
    """Compose and issue the documents in this process, without delivering them.

    Run in a subprocess with the sender's environment, by `create_documents`.
    """
    from sqlalchemy import select

    from vanban import create_app
    from vanban.extensions import db
    from vanban.models import Organisation, User
    from vanban.services import drafts, files

    app = create_app(instance_path=instance_path)
    with app.app_context():
        clerk = db.session.scalar(select(User).where(User.username == SENDER_USERNAME))
        ward = db.session.scalar(
            select(Organisation).where(Organisation.code == WARD_CODE)
        )
        for index in range(count):
            stored = files.store_bytes(pdf_bytes(MIB), f"phu-luc-{index:04d}.pdf")
            document = drafts.compose(
                db.session,
                clerk,
                type_name="Công văn",
                subject=f"Văn bản đo hiệu năng số {index + 1}",
                description="",
                signer_name="Người ký (demo)",
                signer_position="Chủ tịch",
                urgency=1,
                secrecy=0,
                due_date=None,
                files=[stored],
            )
            drafts.issue(
                db.session,
                clerk,
                document,
                subject=document.subject,
                recipient_ids=[ward.id],
            )
            db.session.commit()


def sync_until(
    installation: Installation,
    code: str,
    remaining,
    label: str,
    profile: Path | None = None,
) -> tuple[float, int]:
    """Run `exchange sync --org code` until `remaining()` is 0.

    Return the seconds of all runs together and the number of runs. With
    `profile`, the first run runs under cProfile, which slows it down.
    """
    runs = 0
    idle_runs = 0
    started = time.monotonic()
    while (left := remaining()) > 0:
        installation.cli(
            "exchange",
            "sync",
            "--org",
            code,
            timeout=SYNC_SECONDS,
            profile=profile if runs == 0 else None,
        )
        runs += 1
        now_left = remaining()
        print(f"  {label} run {runs}: {left - now_left} moved, {now_left} left")
        idle_runs = idle_runs + 1 if now_left == left else 0
        if idle_runs >= MAX_IDLE_SYNC_RUNS:
            raise RuntimeError(f"{label}: {now_left} documents did not move")
    return time.monotonic() - started, runs


def time_exchange(root: Path, count: int, profile_folder: Path | None) -> dict:
    city = Installation("city", root / "city", hub_enabled=True)
    ward = Installation("ward", root / "ward")
    try:
        print("preparing both installations")
        prepare(city, ward)
        print(f"creating {count} documents at the sender")
        created = create_documents(city, count)
        print(f"  created in {created:.1f} s")

        def unsent() -> int:
            return city.count(
                "SELECT count(*) FROM outbox_messages "
                "WHERE kind = 'document' AND sent_at IS NULL"
            )

        def not_received() -> int:
            received = ward.count(
                "SELECT count(*) FROM documents WHERE direction = 'incoming' "
                "AND exchange_id IS NOT NULL"
            )
            return count - received

        push_profile = poll_profile = None
        if profile_folder is not None:
            push_profile = profile_folder / "push.prof"
            poll_profile = profile_folder / "poll.prof"
        push_seconds, push_runs = sync_until(
            city, CITY_CODE, unsent, "push", push_profile
        )
        poll_seconds, poll_runs = sync_until(
            ward, WARD_CODE, not_received, "poll", poll_profile
        )
        attachments = ward.count(
            "SELECT count(*) FROM attachments JOIN documents "
            "ON documents.id = attachments.document_id "
            "WHERE documents.direction = 'incoming' AND attachments.size = ?",
            MIB,
        )
        if attachments != count:
            raise RuntimeError(f"the receiver has {attachments} attachments of 1 MiB")
        # One run with nothing to move: the fixed cost of a `flask` process.
        started = time.monotonic()
        city.cli("exchange", "sync", "--org", CITY_CODE)
        idle_seconds = time.monotonic() - started
        return {
            "push": push_seconds,
            "push_runs": push_runs,
            "poll": poll_seconds,
            "poll_runs": poll_runs,
            "idle_run": idle_seconds,
        }
    finally:
        ward.stop()
        city.stop()


def time_plain_http(root: Path, count: int) -> float:
    """Post `count` PDFs of 1 MiB to a WSGI app that writes each to a file."""
    folder = root / "plain"
    store = folder / "received"
    store.mkdir(parents=True)
    (folder / "sink.py").write_text(SINK_APP)
    env = dict(os.environ, PYTHONPATH=str(folder), SINK_FOLDER=str(store))
    port = free_port()
    server = start_gunicorn("sink:app", port, env, folder / "server.log")
    try:
        url = f"http://127.0.0.1:{port}/"
        elapsed = 0.0
        with requests.Session() as session:
            for _ in range(count):
                # The body is built outside the timed part, as the exchange's
                # documents are created before its timing starts.
                body = pdf_bytes(MIB)
                started = time.monotonic()
                response = session.post(
                    url,
                    data=body,
                    headers={"Content-Type": "application/pdf"},
                    timeout=30,
                )
                elapsed += time.monotonic() - started
                response.raise_for_status()
        stored = len(list(store.iterdir()))
        if stored != count:
            raise RuntimeError(f"the sink stored {stored} files, expected {count}")
        return elapsed
    finally:
        stop_process_group(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    subcommands = parser.add_subparsers(dest="command")
    create = subcommands.add_parser("create-documents", help=argparse.SUPPRESS)
    create.add_argument("--instance-path", required=True)
    create.add_argument("--count", type=int, required=True)
    parser.add_argument(
        "--count",
        type=int,
        default=1000,
        help="number of documents, each with one 1 MiB attachment (default 1000)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="FOLDER",
        help="run the first push and poll runs under cProfile and write "
        "push.prof and poll.prof to FOLDER; their times then include its overhead",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the temporary folder with both installations and their logs",
    )
    args = parser.parse_args()
    if args.command == "create-documents":
        create_documents_here(args.instance_path, args.count)
        return

    root = Path(tempfile.mkdtemp(prefix="vanban-bench-"))
    try:
        if args.profile is not None:
            args.profile = args.profile.resolve()
            args.profile.mkdir(parents=True, exist_ok=True)
        exchange = time_exchange(root, args.count, args.profile)
        plain = time_plain_http(root, args.count)
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)

    total = exchange["push"] + exchange["poll"]
    print(f"documents: {args.count}, each with a 1 MiB attachment")
    print(
        f"exchange push: {exchange['push']:.1f} s in {exchange['push_runs']} "
        f"`exchange sync` runs"
    )
    print(
        f"exchange poll: {exchange['poll']:.1f} s in {exchange['poll_runs']} "
        f"`exchange sync` runs"
    )
    print(f"exchange push + poll: {total:.1f} s")
    print(f"one `exchange sync` run with nothing to move: {exchange['idle_run']:.1f} s")
    print(f"plain HTTP POSTs: {plain:.1f} s")
    ratio = total / plain
    verdict = "met" if ratio <= 3 else "not met"
    print(f"ratio: {ratio:.1f}x plain HTTP (target at most 3x: {verdict})")


if __name__ == "__main__":
    main()
