"""Vietnam's administrative units after 1 July 2025, from the packaged list."""

import json
from functools import cache
from importlib import resources


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
