"""Property tests: our own edXML packages come back from the parser intact."""

import dataclasses
import unicodedata
from datetime import UTC, date, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vanban.exchange import (
    Attachment,
    Business,
    EdocPackage,
    EdxmlError,
    Organisation,
    Receiver,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusPackage,
    TraceHeader,
    build_edoc,
    build_status,
    parse_edoc,
    parse_package,
    parse_status,
    standard_document_id,
)
from vanban.exchange.packages import RECEIVER_TYPES, STATUS_CODES
from vanban.services.clock import LOCAL_TZ
from vanban.services.text import nfc

# An explicit budget keeps the whole file to a few seconds. The example database
# is off so that runs leave no .hypothesis folder behind, and the per-example
# deadline is off because a loaded machine makes it flaky.
FAST = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

VOWELS = "aăâeêioôơuưy"
TONED = "àáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ"
LETTERS = "bcdđghklmnpqrstvx" + VOWELS + TONED
# Ð (U+00D0) and ð are look-alikes pasted from other systems, which nfc maps to Đ, đ.
ALPHABET = LETTERS + LETTERS.upper() + "ÐðĐđ0123456789 ,.;:-/()<>&'\"\n\t"


def nfd_or_nfc(text: str, decompose: bool) -> str:
    return unicodedata.normalize("NFD", text) if decompose else text


vietnamese = st.builds(nfd_or_nfc, st.text(ALPHABET, max_size=30), st.booleans())
# Starting with a letter keeps the text non-empty after stripping, with no filter.
required_text = st.builds(
    lambda first, rest, decompose: nfd_or_nfc(first + rest, decompose),
    st.sampled_from(LETTERS + LETTERS.upper()),
    st.text(ALPHABET, max_size=30),
    st.booleans(),
)
emails = st.from_regex(r"[a-z0-9.]{1,12}@[a-z]{2,8}\.(vn|gov\.vn)", fullmatch=True)
organ_ids = st.from_regex(
    r"[0-9]{3}\.[0-9]{2}\.[0-9]{2}\.[A-Z][0-9]{2}", fullmatch=True
)
small_codes = st.none() | st.integers(min_value=0, max_value=9)
dates = st.dates(min_value=date(1990, 1, 1), max_value=date(2099, 12, 31))
timestamps = st.datetimes(
    min_value=datetime(1990, 1, 1),
    max_value=datetime(2099, 12, 31),
    timezones=st.sampled_from([UTC, LOCAL_TZ]),
).map(lambda value: value.replace(microsecond=0))

organisations = st.builds(
    Organisation,
    organ_id=organ_ids,
    organ_name=vietnamese,
    organization_in_charge=vietnamese,
    organ_add=vietnamese,
    email=emails,
    telephone=st.from_regex(r"\+?[0-9 ]{0,15}", fullmatch=True),
)
staff_infos = st.builds(StaffInfo, vietnamese, vietnamese, emails, vietnamese)
response_fors = st.builds(
    ResponseFor,
    organ_id=organ_ids,
    code=vietnamese,
    promulgation_date=st.none() | dates,
    document_id=required_text,
)
businesses = st.builds(
    Business,
    doc_type=st.sampled_from([0, 1, 2, 3]),
    doc_reason=vietnamese,
    document_id=vietnamese,
    paper=st.none() | st.integers(0, 1),
    staff=st.none() | staff_infos,
    document_info=small_codes,
    document_receiver=small_codes,
    # Other receiver types are read with a warning, which the round trip rejects.
    receivers=st.lists(
        st.builds(
            Receiver,
            organ_ids,
            st.none() | st.sampled_from(sorted(RECEIVER_TYPES.values())),
        ),
        max_size=3,
    ),
)
attachments = st.builds(
    Attachment,
    name=st.builds(
        lambda stem, suffix: stem + suffix,
        required_text,
        st.sampled_from([".pdf", ".docx", ".PDF", ".txt", ".tif", ""]),
    ),
    content_type=st.sampled_from(
        [
            "application/pdf",
            "application/msword",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "image/tiff",
            "text/plain",
        ]
    ),
    data=st.binary(max_size=4096),
    description=vietnamese,
)


@st.composite
def edoc_packages(draw) -> EdocPackage:
    return EdocPackage(
        sender=draw(organisations),
        recipients=draw(
            st.lists(
                organisations, min_size=1, max_size=8, unique_by=lambda o: o.organ_id
            )
        ),
        subject=draw(required_text),
        code_number=draw(st.from_regex(r"[0-9]{1,5}", fullmatch=True)),
        code_notation=draw(st.text("ABCDĐEGHKLMNPQRSTUVXY-", min_size=1, max_size=12)),
        promulgation_place=draw(vietnamese),
        promulgation_date=draw(dates),
        document_type=draw(small_codes),
        type_detail=draw(small_codes),
        type_name=draw(vietnamese),
        content=draw(vietnamese),
        signer=draw(st.builds(SignerInfo, vietnamese, vietnamese, vietnamese)),
        due_date=draw(st.none() | dates),
        priority=draw(st.none() | st.integers(0, 4)),
        sphere_of_promulgation=draw(vietnamese),
        typer_notation=draw(vietnamese),
        promulgation_amount=draw(st.none() | st.integers(0, 500)),
        page_amount=draw(st.none() | st.integers(0, 500)),
        direction=draw(st.none() | st.booleans()),
        appendixes=draw(st.lists(required_text, max_size=3)),
        steering_type=draw(small_codes),
        to_places=draw(st.lists(required_text, max_size=3)),
        response_for=draw(st.lists(response_fors, max_size=2)),
        trace_headers=draw(
            st.lists(
                st.builds(TraceHeader, organ_ids, timestamps), min_size=1, max_size=3
            )
        ),
        business=draw(businesses),
        attachments=draw(st.lists(attachments, max_size=4)),
    )


def plain_package(**changes) -> EdocPackage:
    package = EdocPackage(
        sender=Organisation("000.00.00.H53"),
        recipients=[Organisation("000.00.01.H53")],
        subject="Về việc tiếp nhận văn bản",
        code_number="1",
        code_notation="UBND",
        promulgation_date=date(2026, 1, 2),
    )
    return dataclasses.replace(package, **changes)


def normalised(value):
    """Return the value as the parser should give it back: every text in NFC."""
    if isinstance(value, str):
        return nfc(value)
    if isinstance(value, list):
        return [normalised(item) for item in value]
    if dataclasses.is_dataclass(value):
        changes = {
            item.name: normalised(getattr(value, item.name))
            for item in dataclasses.fields(value)
            if item.compare
        }
        return dataclasses.replace(value, **changes)
    return value


@FAST
@given(edoc_packages())
def test_edoc_round_trip_keeps_every_field(package):
    expected = normalised(package)
    expected.document_id = standard_document_id(
        expected.sender.organ_id,
        expected.promulgation_date,
        expected.code_number,
        expected.code_notation,
    )

    parsed = parse_edoc(build_edoc(package))

    assert parsed == expected
    assert parsed.warnings == []


@FAST
@given(st.lists(attachments, min_size=1, max_size=6))
def test_attachments_come_back_byte_identical(files):
    parsed = parse_edoc(build_edoc(plain_package(attachments=files)))

    assert [a.sha256 for a in parsed.attachments] == [a.sha256 for a in files]
    assert [a.data for a in parsed.attachments] == [a.data for a in files]
    assert [a.content_type for a in parsed.attachments] == [
        a.content_type for a in files
    ]


@FAST
@given(st.text(ALPHABET, min_size=1, max_size=60))
def test_decomposed_subject_comes_back_composed(text):
    subject = unicodedata.normalize("NFD", "Đề nghị " + text + " đĐ")

    parsed = parse_edoc(build_edoc(plain_package(subject=subject)))

    assert unicodedata.is_normalized("NFC", parsed.subject)
    assert parsed.subject == nfc(subject)


def test_lookalike_eth_becomes_vietnamese_d():
    subject = unicodedata.normalize("NFD", "Ðơn đề nghị ĐIỀU CHỈNH")

    parsed = parse_edoc(build_edoc(plain_package(subject=subject)))

    assert parsed.subject == "Đơn đề nghị ĐIỀU CHỈNH"


@FAST
@given(
    st.builds(
        StatusPackage,
        sender=organisations,
        response_for=response_fors,
        status_code=st.sampled_from(STATUS_CODES),
        description=vietnamese,
        timestamp=timestamps,
        staff=st.none() | staff_infos,
    )
)
def test_status_round_trip_keeps_every_field(status):
    parsed = parse_status(build_status(status))

    assert parsed == normalised(status)
    assert parsed.warnings == []


# A package with a reply reference, a business block and an attachment to damage.
DAMAGE_TARGET = build_edoc(
    plain_package(
        content="Nội dung",
        to_places=["Như trên"],
        response_for=[ResponseFor("000.00.02.H53", "5/UBND", date(2026, 1, 1), "x")],
        business=Business(doc_type=2, receivers=[Receiver("000.00.01.H53", 0)]),
        attachments=[Attachment("a.pdf", "application/pdf", b"%PDF-1.7 " * 50)],
    )
)


@FAST
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_raise_only_edxml_error(data):
    try:
        result = parse_package(data)
    except EdxmlError as exc:
        assert exc.user_message
    else:
        assert isinstance(result, EdocPackage | StatusPackage)


@FAST
@given(st.data())
def test_damaged_package_raises_only_edxml_error(data):
    built = DAMAGE_TARGET
    start = data.draw(st.integers(0, len(built) - 1))
    end = data.draw(st.integers(start, min(len(built), start + 64)))
    damaged = built[:start] + data.draw(st.binary(max_size=64)) + built[end:]

    try:
        result = parse_package(damaged)
    except EdxmlError as exc:
        assert exc.user_message
    else:
        assert isinstance(result, EdocPackage | StatusPackage)
