"""Document types and abbreviations from Nghị định 30/2020/NĐ-CP, Phụ lục III."""

# (name, abbreviation); công văn has no abbreviation and is numbered in its own series.
DOCUMENT_TYPES = (
    ("Công văn", ""),
    ("Nghị quyết", "NQ"),
    ("Quyết định", "QĐ"),
    ("Chỉ thị", "CT"),
    ("Quy chế", "QC"),
    ("Quy định", "QyĐ"),
    ("Thông cáo", "TC"),
    ("Thông báo", "TB"),
    ("Hướng dẫn", "HD"),
    ("Chương trình", "CTr"),
    ("Kế hoạch", "KH"),
    ("Phương án", "PA"),
    ("Đề án", "ĐA"),
    ("Dự án", "DA"),
    ("Báo cáo", "BC"),
    ("Biên bản", "BB"),
    ("Tờ trình", "TTr"),
    ("Hợp đồng", "HĐ"),
    ("Công điện", "CĐ"),
    ("Bản ghi nhớ", "BGN"),
    ("Bản thỏa thuận", "BTT"),
    ("Giấy ủy quyền", "GUQ"),
    ("Giấy mời", "GM"),
    ("Giấy giới thiệu", "GGT"),
    ("Giấy nghỉ phép", "GNP"),
    ("Phiếu gửi", "PG"),
    ("Phiếu chuyển", "PC"),
    ("Phiếu báo", "PB"),
)
ABBREVIATIONS = dict(DOCUMENT_TYPES)
TYPE_CHOICES = [(name, name) for name, _ in DOCUMENT_TYPES]

URGENCY_LABELS = {
    0: "Thường",
    1: "Khẩn",
    2: "Thượng khẩn",
    3: "Hỏa tốc",
    4: "Hỏa tốc hẹn giờ",
}
SECRECY_LABELS = {0: "Thường", 1: "Mật", 2: "Tối mật", 3: "Tuyệt mật"}
STATUS_LABELS = {
    "01": "Đã đến",
    "02": "Từ chối tiếp nhận",
    "03": "Đã tiếp nhận",
    "04": "Phân công",
    "05": "Đang xử lý",
    "06": "Hoàn thành",
    "13": "Lấy lại",
    "15": "Đồng ý lấy lại/cập nhật",
    "16": "Từ chối lấy lại/cập nhật",
}
ROLE_LABELS = {
    "clerk": "Văn thư",
    "advisor": "Bộ phận tham mưu",
    "leader": "Lãnh đạo UBND",
    "head": "Lãnh đạo phòng",
    "officer": "Chuyên viên",
    "format_reviewer": "Kiểm soát văn bản",
    "admin": "Quản trị",
    "trainer": "Hướng dẫn thử nghiệm",
}
