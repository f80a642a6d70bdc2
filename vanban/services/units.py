"""Vietnam's administrative units after 1 July 2025, from the packaged list."""

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True)
class Unit:
    """A province (2-digit code) or a ward (5-digit code) of the packaged list."""

    code: str
    name: str
    level: str  # "province" or "ward"
    province_code: str


@cache
def provinces() -> list[dict]:
    """Return the provinces and cities, each with its wards and official codes."""
    data = resources.files("vanban").joinpath("data/units/vn_units.json")
    return json.loads(data.read_text(encoding="utf-8"))


def find_province(code: str) -> dict:
    for province in provinces():
        if province["Code"] == code:
            return province
    raise KeyError(f"no province with code {code}")


def find_ward(province_code: str, ward_code: str) -> dict:
    for ward in find_province(province_code)["Wards"]:
        if ward["Code"] == ward_code:
            return ward
    raise KeyError(f"no ward {ward_code} in province {province_code}")


@cache
def _units_by_code() -> dict[str, Unit]:
    found = {}
    for province in provinces():
        code = province["Code"]
        found[code] = Unit(code, province["FullName"], "province", code)
        for ward in province["Wards"]:
            found[ward["Code"]] = Unit(ward["Code"], ward["FullName"], "ward", code)
    return found


def find_unit(code: str) -> Unit | None:
    """Return the province or ward with this official code, or None."""
    return _units_by_code().get(code)
