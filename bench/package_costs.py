"""Time the package work that every exchanged document needs, in one process.

Per document with one 1 MiB attachment: building its edXML package (zip and
base64 included), parsing the package as the hub and the receiver each do
(base64 decoding and unzipping included), and one SHA-256 pass over the
package. These are CPU costs before any HTTP call or database row, so they
show how much of the exchange's budget the package format takes by itself.

Run from the repository root: `python bench/package_costs.py --count 200`.
"""

import argparse
import hashlib
import sys
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.exchange import MIB, pdf_bytes  # noqa: E402
from vanban.exchange.edxml import parse_package  # noqa: E402
from vanban.exchange.packages import Attachment  # noqa: E402
from vanban.exchange.writing import build_edoc  # noqa: E402

SAMPLE = (
    REPO
    / "tests/fixtures/edxml/api-gateway-ioffice_874e0f18-90dc-45fb-989a-65401470ba84"
    ".edxml"
)


def per_document_ms(step, count: int) -> float:
    """Return the mean CPU milliseconds of `step(i)` over `count` calls."""
    started = time.process_time()
    for index in range(count):
        step(index)
    return (time.process_time() - started) * 1000 / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--count", type=int, default=200, help="number of documents (default 200)"
    )
    args = parser.parse_args()

    template = parse_package(SAMPLE.read_bytes())
    packages = [
        replace(
            template,
            document_id="",
            attachments=[Attachment("van-ban.pdf", "application/pdf", pdf_bytes(MIB))],
        )
        for _ in range(args.count)
    ]
    built: list[bytes] = []

    build = per_document_ms(lambda i: built.append(build_edoc(packages[i])), args.count)
    parse = per_document_ms(lambda i: parse_package(built[i]), args.count)
    digest = per_document_ms(lambda i: hashlib.sha256(built[i]).digest(), args.count)
    size = sum(len(package) for package in built) / len(built)

    print(f"documents: {args.count}, package size {size / MIB:.2f} MiB on average")
    print(f"build: {build:.1f} ms of CPU per document")
    print(f"parse: {parse:.1f} ms of CPU per document (the hub and the receiver each)")
    print(f"SHA-256 of the package: {digest:.1f} ms of CPU per document")
    total = build + 2 * parse + 3 * digest
    print(f"build, two parses and three SHA-256 passes: {total:.1f} ms per document")


if __name__ == "__main__":
    main()
