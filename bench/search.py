"""Time the search page and the document lists on a database of many documents.

The script builds a database (SQLite in a temporary folder unless
--database-url names another), migrates it, loads the demo data and adds
--documents generated documents, half of them to UBND Phường Ba Đình and the
rest spread over the other organisations. The documents are inserted with
plain INSERTs and indexed with `search.reindex`, the function the application's
flush hook calls, without attachment files.

It then logs in as Ba Đình's clerk through the login form and requests each
page --runs times through Flask's test client. The pages are the inbox, the
outgoing list and the to-do home, on varied pages, sorts and filters, and the
search page with varied queries. For each request it records the server time
(the whole request inside the app: routing, queries, templates) and the bare
SQL time: the request's SELECT statements run again, alone, on a raw database
connection, with every row fetched. It prints the median and 95th percentile
of each, and the load average before and after the timed requests; --slowest N
shows the slowest requests statement by statement.

Run from the repository root with `.venv` active:
`python bench/search.py --documents 200000`.
"""

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import event, insert, select

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vanban import create_app  # noqa: E402
from vanban.extensions import db  # noqa: E402
from vanban.models import Department, Document, Organisation, User  # noqa: E402
from vanban.services import demo, search  # noqa: E402
from vanban.services.workflow import INCOMING_STATES, OUTGOING_STATES  # noqa: E402

MEASURED_WARD = "badinh"
MEASURED_USER = "badinh.vanthu"
BATCH = 5000

SUBJECT_HEADS = [
    "Quyết định về việc",
    "Kế hoạch",
    "Thông báo",
    "Công văn về việc",
    "Báo cáo",
    "Tờ trình về việc",
    "Hướng dẫn",
    "Giấy mời họp",
]
SUBJECT_TOPICS = [
    "kiện toàn Ban chỉ đạo chuyển đổi số",
    "phòng cháy chữa cháy mùa khô",
    "triển khai thu ngân sách nhà nước",
    "cải cách hành chính và một cửa liên thông",
    "bảo đảm an toàn giao thông dịp Tết",
    "tổ chức Đại hội thể dục thể thao",
    "quản lý trật tự xây dựng đô thị",
    "phòng chống dịch bệnh truyền nhiễm",
    "tuyển dụng công chức cấp xã",
    "vệ sinh môi trường và thu gom rác thải",
    "bồi dưỡng cán bộ, công chức cơ sở",
    "rà soát hộ nghèo, hộ cận nghèo",
    "đo đạc, cấp giấy chứng nhận quyền sử dụng đất",
    "tiếp công dân định kỳ",
    "kiểm tra an toàn thực phẩm",
]
ORGANS = [
    "UBND Thành phố Hà Nội",
    "Sở Nội vụ",
    "Sở Tài chính",
    "Sở Xây dựng",
    "Sở Y tế",
    "Công an Thành phố",
    "Trung tâm Truyền thông, Dữ liệu và Công nghệ số",
]
NOTATIONS = ["QĐ-UBND", "KH-UBND", "TB-UBND", "UBND-VP", "BC-UBND", "TTr-UBND"]
WORDS = (
    "thực hiện chỉ đạo của Thành phố các đơn vị khẩn trương tổ chức triển khai "
    "nghiêm túc báo cáo kết quả trước ngày đề nghị phối hợp rà soát đánh giá "
    "tình hình dân cư khu phố tổ dân phố kinh phí dự toán nguồn lực hồ sơ thủ tục"
).split()

# Searches as a clerk types them: common and rare words, with and without
# diacritics, a number and symbol, several words, and a word in the text only.
SEARCHES = [
    "chuyen doi so",
    "Phòng cháy",
    "QUYẾT ĐỊNH",
    "ngân sách nhà nước",
    "123/QĐ-UBND",
    "ho ngheo",
    "thuc pham",
    "tiep cong dan",
    "khu pho kinh phi",
    "Đại hội thể dục",
]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))
    return ordered[index]


def build_database(app, count: int, seed: int) -> None:
    """Migrate, load the demo data and add `count` generated documents."""
    from flask_migrate import upgrade

    rng = random.Random(seed)
    upgrade(revision="heads")
    demo.seed(db.session)
    db.session.commit()

    organisations = list(db.session.scalars(select(Organisation)))
    measured = next(o for o in organisations if "Ba Đình" in o.name)
    others = [o for o in organisations if o.id != measured.id]
    departments: dict[int, list[int]] = {}
    for department in db.session.scalars(select(Department)):
        departments.setdefault(department.organisation_id, []).append(department.id)
    users: dict[int, list[int]] = {}
    for user in db.session.scalars(select(User)):
        users.setdefault(user.organisation_id, []).append(user.id)

    start = datetime.now(UTC) - timedelta(days=3 * 365)
    started = time.perf_counter()
    for offset in range(0, count, BATCH):
        rows = []
        for index in range(offset, min(count, offset + BATCH)):
            organisation = measured if index % 2 == 0 else rng.choice(others)
            rows.append(
                _document_row(rng, index, organisation, departments, users, start)
            )
        db.session.execute(insert(Document), rows)
        db.session.commit()
    print(f"inserted {count} documents in {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    indexed = search.reindex_all(db.session, batch_size=BATCH)
    print(f"indexed {indexed} documents in {time.perf_counter() - started:.1f} s")
    if db.engine.dialect.name == "sqlite":
        with db.engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
    else:
        # VACUUM fills PostgreSQL's visibility map, as autovacuum does on a
        # live database. Without it, index-only scans read the table too.
        autocommit = db.engine.execution_options(isolation_level="AUTOCOMMIT")
        with autocommit.connect() as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")


def _document_row(rng, index, organisation, departments, users, start) -> dict:
    direction = "incoming" if rng.random() < 0.7 else "outgoing"
    states = INCOMING_STATES if direction == "incoming" else OUTGOING_STATES
    created = start + timedelta(minutes=index * 7 + rng.randint(0, 6))
    issued = created.date() - timedelta(days=rng.randint(0, 5))
    subject = f"{rng.choice(SUBJECT_HEADS)} {rng.choice(SUBJECT_TOPICS)}"
    description = " ".join(rng.choice(WORDS) for _ in range(40))
    holders = users.get(organisation.id) or [None]
    return {
        "organisation_id": organisation.id,
        "direction": direction,
        "state": rng.choice(list(states)),
        "type_name": subject.split(" ")[0],
        "number": str(rng.randint(1, 2000)),
        "notation": rng.choice(NOTATIONS),
        "issued_date": issued,
        "organ_name": rng.choice(ORGANS),
        "subject": f"{subject} năm {issued.year}",
        "description": description,
        "body_text": "",
        "signer_position": "Chủ tịch",
        "signer_name": "Người ký (demo)",
        "urgency": rng.choice([0, 0, 0, 1, 2]),
        "secrecy": 0,
        "due_date": issued + timedelta(days=rng.randint(3, 40)),
        "department_id": rng.choice(departments.get(organisation.id) or [None]),
        "holder_id": rng.choice(holders),
        "created_at": created,
        "updated_at": created,
    }


class SqlRecorder:
    """Record the statements a request runs, to run them again alone.

    The time around the driver's execute call would miss most of the work:
    SQLite computes the rows of a query as they are fetched.
    """

    def __init__(self, engine):
        self.statements: list[tuple[str, object]] = []
        event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, conn, cursor, statement, parameters, context, executemany):
        self.statements.append((statement, parameters))

    def bare_time(self, engine) -> tuple[float, list[tuple[float, str]]]:
        """Run the recorded SELECTs on a raw connection, fetching every row,
        and return their total time and each one's time, in seconds."""
        timings = []
        connection = engine.raw_connection()
        try:
            cursor = connection.cursor()
            for statement, parameters in self.statements:
                if not statement.lstrip().upper().startswith(("SELECT", "WITH")):
                    continue
                started = time.perf_counter()
                cursor.execute(statement, parameters)
                cursor.fetchall()
                timings.append(
                    (time.perf_counter() - started, " ".join(statement.split())[:90])
                )
            cursor.close()
        finally:
            connection.close()
        return sum(t for t, _ in timings), timings


def requests_for(kind: str, rng: random.Random, count: int) -> list[str]:
    """Build `count` URLs of one page kind with varied parameters."""
    urls = []
    for index in range(count):
        if kind == "search":
            query = SEARCHES[index % len(SEARCHES)]
            page = rng.choice([1, 1, 1, 2, 5])
            urls.append(_url("/search/", q=query, page=page))
            continue
        path = {"inbox": "/inbox/", "outgoing": "/registers/outgoing/", "todo": "/"}[
            kind
        ]
        params = {"page": rng.choice([1, 1, 2, 3, 10])}
        choice = index % 4
        if choice == 1:
            params["sort"] = rng.choice(["oldest", "due", "urgency"])
        elif choice == 2:
            params["urgency"] = rng.choice(["1", "2"])
        elif choice == 3:
            params["q"] = rng.choice(SEARCHES)
        urls.append(_url(path, **params))
    return urls


def _url(path: str, **params) -> str:
    from urllib.parse import urlencode

    return f"{path}?{urlencode(params)}"


def measure(app, runs: int, seed: int, slowest: int = 0) -> dict[str, dict[str, float]]:
    rng = random.Random(seed)
    client = app.test_client()
    response = client.post(
        "/login", data={"username": MEASURED_USER, "password": demo.DEMO_PASSWORD}
    )
    assert response.status_code == 303, response.status_code
    recorder = SqlRecorder(db.engine)
    results = {}
    for kind in ("search", "inbox", "outgoing", "todo"):
        urls = requests_for(kind, rng, runs)
        for url in urls[:3]:
            client.get(url)
        server, sql, statements, slow = [], [], [], []
        for url in urls:
            recorder.statements = []
            started = time.perf_counter()
            response = client.get(url)
            server.append(time.perf_counter() - started)
            assert response.status_code == 200, (url, response.status_code)
            statements.append(len(recorder.statements))
            bare, timings = recorder.bare_time(db.engine)
            recorder.statements = []
            sql.append(bare)
            slow.append((server[-1] * 1000, url, timings))
        for elapsed, url, timings in sorted(slow, reverse=True)[:slowest]:
            print(f"{kind} {elapsed:.1f} ms {url}")
            for statement_time, statement in timings:
                print(f"    {statement_time * 1000:7.1f} {statement}")
        results[kind] = {
            "server_median": statistics.median(server) * 1000,
            "server_p95": percentile(server, 0.95) * 1000,
            "sql_median": statistics.median(sql) * 1000,
            "sql_p95": percentile(sql, 0.95) * 1000,
            "statements_max": max(statements),
        }
    return results


def visible_count(app) -> int:
    from sqlalchemy import func

    from vanban.services import permissions

    user = db.session.scalar(select(User).where(User.username == MEASURED_USER))
    return db.session.scalar(
        select(func.count())
        .select_from(Document)
        .where(permissions.visible_filter(user))
    )


def _set_page_cache(engine, mebibytes: int) -> None:
    """Give every new SQLite connection a page cache of this size."""

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection, connection_record):
        dbapi_connection.execute(f"PRAGMA cache_size=-{mebibytes * 1024}")

    engine.dispose()
    print(f"SQLite page cache: {mebibytes} MiB per connection")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=60, help="requests per page kind")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--database-url",
        help="an empty database to fill (default: a new SQLite file)",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="measure the database at --database-url as it is, without filling it",
    )
    parser.add_argument(
        "--slowest",
        type=int,
        default=0,
        help="print this many slowest requests of each kind with their statements",
    )
    parser.add_argument(
        "--sqlite-cache-mib",
        type=int,
        default=0,
        help="set SQLite's page cache of each connection to this many MiB "
        "(default: the application's own 64 MiB)",
    )
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="vanban-bench-search-"))
    url = args.database_url or f"sqlite:///{workdir / 'bench.sqlite'}"
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench-secret-key",
            "WTF_CSRF_ENABLED": False,
            "SCHEDULER_ENABLED": False,
        },
        instance_path=str(workdir / "instance"),
    )
    with app.app_context():
        if args.sqlite_cache_mib and db.engine.dialect.name == "sqlite":
            _set_page_cache(db.engine, args.sqlite_cache_mib)
        if not args.reuse:
            build_database(app, args.documents, args.seed)
        print(f"database: {db.engine.dialect.name}, {url}")
        print(f"documents visible to {MEASURED_USER}: {visible_count(app)}")
        # The machine's load around the timed requests: a load above 1 means
        # other processes shared the cores with this one.
        load_before = os.getloadavg()[0]
        results = measure(app, args.runs, args.seed, args.slowest)
        load_after = os.getloadavg()[0]
    print()
    print(f"load average (1 min): {load_before:.2f} at start, {load_after:.2f} at end")
    print(
        f"{'page':<10}{'server median':>15}{'server p95':>12}{'SQL median':>12}"
        f"{'SQL p95':>9}{'statements':>12}  (ms, {args.runs} requests each)"
    )
    for kind, values in results.items():
        print(
            f"{kind:<10}{values['server_median']:>15.1f}{values['server_p95']:>12.1f}"
            f"{values['sql_median']:>12.1f}{values['sql_p95']:>9.1f}"
            f"{values['statements_max']:>12}"
        )


if __name__ == "__main__":
    main()
