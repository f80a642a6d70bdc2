"""Time the document exchange between two installations against plain HTTP.

A city installation serves the hub and a ward installation polls it, each a
gunicorn process on 127.0.0.1 with its own SQLite database, prepared with the
CLI by the Installation class of tests/processes.py, which
tests/test_two_installations.py also uses. The sender's clerk composes and
issues N documents, each with one 1 MiB PDF of random bytes, through the
service layer without delivering them.

The script then times the connector as a long-lived process runs it (the
scheduler, for instance): one process per installation starts the app once
and runs connector cycles back to back, as `flask exchange sync` does, until
every document has moved. Push is the sender's loop, poll the receiver's.
The start of those processes is not timed. One `flask exchange sync` run with
nothing to move is timed separately to show that fixed cost.

For comparison it posts N bodies of the same size to a minimal WSGI app under
gunicorn that writes each body to a file, using one requests.Session. It also
times the hub protocol's calls alone: the same HTTP calls with the same
package bytes (post, fetch, acknowledge, post status 01) against a WSGI app
that only writes and reads files, to show what the transport costs before any
parsing or database work: once one call after another, and once with four
calls under way at once, as the connector makes them.

Run from the repository root: `python bench/exchange.py --count 100`.
"""

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.processes import (  # noqa: E402
    Installation,
    cpu_seconds,
    free_port,
    start_gunicorn,
    stop_process_group,
)

CITY_CODE = "000.00.00.H01"
CITY_NAME = "UBND Thành phố Hà Nội"
WARD_SLUG = "badinh"
WARD_CODE = "000.01.01.H01"
WARD_NAME = "UBND Phường Ba Đình"
SENDER_USERNAME = "thanhpho.vanthu"
MIB = 1024 * 1024
# Creating 1,000 documents of 1 MiB takes minutes on a small machine.
CREATE_SECONDS = 3600
SYNC_SECONDS = 600
# Runs in a row that move nothing before the script stops with an error.
MAX_IDLE_SYNC_RUNS = 3
# Calls under way at once in the second timing of the protocol's calls alone:
# the connector's default (CONNECTOR_PARALLEL_CALLS).
PROTOCOL_PARALLEL_CALLS = 4

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


# The hub protocol's calls with nothing behind them: POST /messages writes the
# body to a file, GET /messages/<id> returns it, and an acknowledgement gets
# its response at once.
PROTOCOL_SINK_APP = """\
import json
import os
import uuid

FOLDER = os.environ["SINK_FOLDER"]


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if environ["REQUEST_METHOD"] == "POST":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        if path.endswith("/ack"):
            start_response("200 OK", [("Content-Type", "application/json")])
            return [b'{"state": "delivered"}']
        message_id = uuid.uuid4().hex
        with open(os.path.join(FOLDER, message_id), "wb") as out:
            out.write(body)
        start_response("201 Created", [("Content-Type", "application/json")])
        return [json.dumps({"message_id": message_id}).encode()]
    message_id = path.rsplit("/", 1)[-1]
    if not message_id:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ready"]
    with open(os.path.join(FOLDER, message_id), "rb") as stored:
        data = stored.read()
    headers = [("Content-Type", "application/xml"), ("Content-Length", str(len(data)))]
    start_response("200 OK", headers)
    return [data]
"""


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


def prepare(city: Installation, ward: Installation) -> None:
    city.prepare("--only", "city")
    ward.prepare("--only", "wards", "--ward", WARD_SLUG)
    city_token = city.add_org(CITY_CODE, CITY_NAME, None)
    ward_token = city.add_org(WARD_CODE, WARD_NAME, CITY_CODE)
    city.connect(CITY_CODE, city.hub_url, city_token)
    ward.connect(WARD_CODE, city.hub_url, ward_token)


def rows(installation: Installation, query: str, *params) -> list[tuple]:
    """Run a query on the installation's SQLite database and return its rows."""
    with sqlite3.connect(installation.database_path) as connection:
        return connection.execute(query, params).fetchall()


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
                str(city.instance),
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


UNSENT_QUERY = (
    "SELECT count(*) FROM outbox_messages WHERE kind = 'document' AND sent_at IS NULL"
)
RECEIVED_QUERY = (
    "SELECT count(*) FROM documents WHERE direction = 'incoming' "
    "AND exchange_id IS NOT NULL"
)


def sync_loop(
    installation: Installation,
    code: str,
    until: str,
    count: int,
    profile: Path | None = None,
) -> dict:
    """Run connector cycles for `code` in one process until the documents moved.

    `until` is "sent" for the sender (its outbox has no unsent document) or
    "received" for the receiver (it holds `count` received documents). Return
    the seconds of the cycles and their number, measured inside the process.
    """
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "sync-loop",
        "--instance-path",
        str(installation.instance),
        "--org",
        code,
        "--until",
        until,
        "--count",
        str(count),
    ]
    if profile is not None:
        command += ["--profile", str(profile)]
    log_path = installation.folder / f"sync-{until}.log"
    with log_path.open("ab") as log:
        result = subprocess.run(
            command,
            cwd=REPO,
            env=installation.environment(),
            stdout=subprocess.PIPE,
            stderr=log,
            timeout=SYNC_SECONDS,
        )
    if result.returncode != 0:
        raise RuntimeError(f"sync-loop failed:\n{log_path.read_text()[-3000:]}")
    return json.loads(result.stdout.decode().strip().splitlines()[-1])


def sync_loop_here(
    instance_path: str, code: str, until: str, count: int, profile: str | None
) -> None:
    """Run the loop of `sync_loop` in this process and print its timing as JSON.

    The app starts before the timing does, as it does once in a long-lived
    connector process. Each cycle is what one `flask exchange sync --org`
    run does: push, poll documents, poll statuses, then push the statuses 01.
    """
    from sqlalchemy import select, text

    from vanban import create_app
    from vanban.exchange import connector
    from vanban.extensions import db, sqlite_write_intent
    from vanban.models import ConnectorSettings, Organisation

    app = create_app(instance_path=instance_path)
    # As the scheduler's job does: SQLite transactions start as writers.
    sqlite_write_intent.set(True)
    with app.app_context():
        settings_id = db.session.scalar(
            select(ConnectorSettings.id)
            .join(Organisation, Organisation.id == ConnectorSettings.organisation_id)
            .where(Organisation.code == code)
        )

        def remaining() -> int:
            if until == "sent":
                left = db.session.scalar(text(UNSENT_QUERY))
            else:
                left = count - db.session.scalar(text(RECEIVED_QUERY))
            db.session.commit()
            return left

        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        runs = idle_runs = 0
        started = time.monotonic()
        cpu_started = time.process_time()
        while (left := remaining()) > 0:
            report = connector.run_cycle(db.session, settings_id, poll=True)
            runs += 1
            now_left = remaining()
            errors = report.errors if report is not None else ["run skipped"]
            print(
                f"{until} run {runs}: {left - now_left} moved, {now_left} left, "
                f"errors: {errors}",
                file=sys.stderr,
            )
            idle_runs = idle_runs + 1 if now_left == left else 0
            if idle_runs >= MAX_IDLE_SYNC_RUNS:
                raise RuntimeError(f"{until}: {now_left} documents did not move")
        seconds = time.monotonic() - started
        cpu = time.process_time() - cpu_started
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile)
    print(json.dumps({"seconds": seconds, "runs": runs, "cpu": cpu}))


def time_exchange(
    root: Path, count: int, profile_folder: Path | None, parallel_calls: int | None
) -> dict:
    city = Installation(
        "city", root / "city", hub_enabled=True, parallel_calls=parallel_calls
    )
    ward = Installation("ward", root / "ward", parallel_calls=parallel_calls)
    try:
        print("preparing both installations")
        prepare(city, ward)
        print(f"creating {count} documents at the sender")
        created = create_documents(city, count)
        print(f"  created in {created:.1f} s")

        push_profile = poll_profile = None
        if profile_folder is not None:
            push_profile = profile_folder / "push.prof"
            poll_profile = profile_folder / "poll.prof"
        hub_cpu = cpu_seconds(city.server)
        push = sync_loop(city, CITY_CODE, "sent", count, push_profile)
        push["hub_cpu"] = cpu_seconds(city.server) - hub_cpu
        print(f"  push: {push['seconds']:.1f} s in {push['runs']} cycles")
        hub_cpu = cpu_seconds(city.server)
        poll = sync_loop(ward, WARD_CODE, "received", count, poll_profile)
        poll["hub_cpu"] = cpu_seconds(city.server) - hub_cpu
        print(f"  poll: {poll['seconds']:.1f} s in {poll['runs']} cycles")
        check_attachments(city, ward, count)
        packages = sample_packages(city)
        # One run with nothing to move: the fixed cost of a `flask` process.
        started = time.monotonic()
        city.sync(CITY_CODE)
        idle_seconds = time.monotonic() - started
        return {
            "push": push["seconds"],
            "push_runs": push["runs"],
            "push_cpu": push["cpu"],
            "push_hub_cpu": push["hub_cpu"],
            "poll": poll["seconds"],
            "poll_runs": poll["runs"],
            "poll_cpu": poll["cpu"],
            "poll_hub_cpu": poll["hub_cpu"],
            "idle_run": idle_seconds,
            "packages": packages,
        }
    finally:
        ward.stop()
        city.stop()


def check_attachments(city: Installation, ward: Installation, count: int) -> None:
    """Check that the receiver stored every sent attachment, byte for byte.

    Attachments are stored under their SHA-256, so equal digests and sizes
    mean equal bytes.
    """
    query = (
        "SELECT attachments.sha256, attachments.size FROM attachments "
        "JOIN documents ON documents.id = attachments.document_id "
        "WHERE documents.direction = ?"
    )
    sent = set(rows(city, query, "outgoing"))
    received = set(rows(ward, query, "incoming"))
    if len(sent) != count or received != sent:
        raise RuntimeError(
            f"sent {len(sent)} attachments, received {len(received)}, "
            f"{len(sent - received)} of them missing or different"
        )
    for sha256, size in received:
        if (ward.instance / "files" / sha256).stat().st_size != size:
            raise RuntimeError(f"the receiver's file {sha256} has the wrong size")


def sample_packages(city: Installation) -> tuple[bytes, bytes]:
    """Return one document package and one status package as the hub stored them."""
    stored = sorted(
        (path for path in (city.instance / "hub").iterdir() if path.is_file()),
        key=lambda path: path.stat().st_size,
    )
    if not stored:
        raise RuntimeError("the hub stored no package")
    return stored[-1].read_bytes(), stored[0].read_bytes()


def start_sink(folder: Path, source: str):
    """Serve the WSGI app `source` under gunicorn with a folder for its files.

    Return the server process, its port and the folder the app writes to.
    """
    store = folder / "received"
    store.mkdir(parents=True)
    (folder / "sink.py").write_text(source)
    env = dict(os.environ, PYTHONPATH=str(folder), SINK_FOLDER=str(store))
    port = free_port()
    server = start_gunicorn("sink:app", port, env, folder / "server.log")
    return server, port, store


def time_protocol_calls(
    root: Path, count: int, packages: tuple[bytes, bytes], parallel: int = 1
):
    """Make the hub protocol's calls for `count` documents against a file sink.

    Per document: post the package, then fetch it, acknowledge it and post a
    status package. All posts come first, as the push precedes the poll.
    `parallel` threads make the calls, each on a requests.Session of its own,
    as the connector keeps several calls under way. Return the seconds of the
    calls and the CPU seconds of the client and the server.
    """
    document, status = packages
    server, port, _ = start_sink(root / f"protocol-{parallel}", PROTOCOL_SINK_APP)
    url = f"http://127.0.0.1:{port}/messages"
    sessions = threading.local()

    def session() -> requests.Session:
        if not hasattr(sessions, "session"):
            sessions.session = requests.Session()
        return sessions.session

    def post_document(_) -> str:
        response = session().post(url, data=document, timeout=30)
        response.raise_for_status()
        return response.json()["message_id"]

    def receive(message_id: str) -> None:
        fetched = session().get(f"{url}/{message_id}", timeout=30)
        fetched.raise_for_status()
        if len(fetched.content) != len(document):
            raise RuntimeError(f"fetched {len(fetched.content)} bytes")
        session().post(
            f"{url}/{message_id}/ack", json={"result": "done"}, timeout=30
        ).raise_for_status()
        session().post(url, data=status, timeout=30).raise_for_status()

    try:
        server_cpu = cpu_seconds(server)
        started = time.monotonic()
        cpu_started = time.process_time()
        with ThreadPoolExecutor(max_workers=parallel) as executor:
            message_ids = list(executor.map(post_document, range(count)))
            list(executor.map(receive, message_ids))
        return {
            "seconds": time.monotonic() - started,
            "client_cpu": time.process_time() - cpu_started,
            "server_cpu": cpu_seconds(server) - server_cpu,
        }
    finally:
        stop_process_group(server)


def time_plain_http(root: Path, count: int) -> dict:
    """Post `count` PDFs of 1 MiB to a WSGI app that writes each to a file.

    Return the seconds of the POST calls and the CPU seconds of the client's
    calls and of the server.
    """
    server, port, store = start_sink(root / "plain", SINK_APP)
    try:
        url = f"http://127.0.0.1:{port}/"
        elapsed = client_cpu = 0.0
        server_cpu = cpu_seconds(server)
        with requests.Session() as session:
            for _ in range(count):
                # The body is built outside the timed part, as the exchange's
                # documents are created before its timing starts.
                body = pdf_bytes(MIB)
                started = time.monotonic()
                cpu_started = time.process_time()
                response = session.post(
                    url,
                    data=body,
                    headers={"Content-Type": "application/pdf"},
                    timeout=30,
                )
                elapsed += time.monotonic() - started
                client_cpu += time.process_time() - cpu_started
                response.raise_for_status()
        stored = len(list(store.iterdir()))
        if stored != count:
            raise RuntimeError(f"the sink stored {stored} files, expected {count}")
        return {
            "seconds": elapsed,
            "client_cpu": client_cpu,
            "server_cpu": cpu_seconds(server) - server_cpu,
        }
    finally:
        stop_process_group(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    subcommands = parser.add_subparsers(dest="command")
    create = subcommands.add_parser("create-documents", help=argparse.SUPPRESS)
    create.add_argument("--instance-path", required=True)
    create.add_argument("--count", type=int, required=True)
    loop = subcommands.add_parser("sync-loop", help=argparse.SUPPRESS)
    loop.add_argument("--instance-path", required=True)
    loop.add_argument("--org", required=True)
    loop.add_argument("--until", choices=("sent", "received"), required=True)
    loop.add_argument("--count", type=int, required=True)
    loop.add_argument("--profile")
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
        help="run the push and poll loops under cProfile and write push.prof and "
        "poll.prof to FOLDER; their times then include its overhead",
    )
    parser.add_argument(
        "--parallel-calls",
        type=int,
        metavar="N",
        help="calls each connector keeps under way at once "
        "(CONNECTOR_PARALLEL_CALLS; default: the application's, 4)",
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
    if args.command == "sync-loop":
        sync_loop_here(
            args.instance_path, args.org, args.until, args.count, args.profile
        )
        return

    root = Path(tempfile.mkdtemp(prefix="vanban-bench-"))
    try:
        if args.profile is not None:
            args.profile = args.profile.resolve()
            args.profile.mkdir(parents=True, exist_ok=True)
        exchange = time_exchange(root, args.count, args.profile, args.parallel_calls)
        plain = time_plain_http(root, args.count)
        protocol = time_protocol_calls(root, args.count, exchange["packages"])
        protocol_parallel = time_protocol_calls(
            root, args.count, exchange["packages"], PROTOCOL_PARALLEL_CALLS
        )
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)

    total = exchange["push"] + exchange["poll"]
    print(f"documents: {args.count}, each with a 1 MiB attachment")
    for step in ("push", "poll"):
        print(
            f"exchange {step}: {exchange[step]:.1f} s in {exchange[step + '_runs']} "
            f"connector cycles; CPU: connector {exchange[step + '_cpu']:.1f} s, "
            f"hub {exchange[step + '_hub_cpu']:.1f} s"
        )
    print(f"exchange push + poll: {total:.1f} s")
    print(f"one `exchange sync` run with nothing to move: {exchange['idle_run']:.1f} s")
    print(
        f"plain HTTP POSTs: {plain['seconds']:.1f} s; CPU: client "
        f"{plain['client_cpu']:.1f} s, server {plain['server_cpu']:.1f} s"
    )
    print(
        f"the hub protocol's calls alone (file sink): {protocol['seconds']:.1f} s, "
        f"{protocol['seconds'] / plain['seconds']:.1f}x plain HTTP; CPU: client "
        f"{protocol['client_cpu']:.1f} s, server {protocol['server_cpu']:.1f} s"
    )
    print(
        f"the same calls, {PROTOCOL_PARALLEL_CALLS} at once: "
        f"{protocol_parallel['seconds']:.1f} s, "
        f"{protocol_parallel['seconds'] / plain['seconds']:.1f}x plain HTTP; CPU: "
        f"client {protocol_parallel['client_cpu']:.1f} s, "
        f"server {protocol_parallel['server_cpu']:.1f} s"
    )
    ratio = total / plain["seconds"]
    verdict = "met" if ratio <= 3 else "not met"
    print(f"ratio: {ratio:.1f}x plain HTTP (target at most 3x: {verdict})")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
