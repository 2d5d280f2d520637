"""The expected-field JSON contract and the structural rules of the numbers.

Shared by the generator (which derives each fixture's JSON from the text
actually drawn on the page) and check.py (which re-validates the files on
disk without trusting the generator).
"""

import datetime as dt
import re

from .data import (DEGREE_LEVEL_DIGIT, ID_CHECK, ID_WEIGHTS, LEVEL_CODE, SCHOOL_TYPE_DIGIT,
                   VCODE_ALPHABET)

KEY_ORDER = [
    "name", "gender", "birth_date", "id_number_masked", "enrollment_date", "graduation_date",
    "school", "major", "duration", "level", "category", "study_mode", "completion",
    "degree_date", "awarding_unit", "degree", "discipline", "certificate_no", "principal", "vcode",
]
LAYOUT_KEYS = {
    ("report", "diploma"): {"name", "gender", "birth_date", "enrollment_date", "graduation_date", "school",
                            "major", "duration", "level", "category", "study_mode", "completion",
                            "certificate_no", "principal", "vcode"},
    ("degree", "degree"): {"name", "gender", "birth_date", "degree_date", "awarding_unit", "degree",
                           "discipline", "certificate_no", "vcode"},
    ("web", "diploma"): {"name", "gender", "birth_date", "id_number_masked", "enrollment_date",
                         "graduation_date", "school", "major", "duration", "level", "category",
                         "study_mode", "completion", "certificate_no", "principal"},
    ("web", "degree"): {"name", "gender", "birth_date", "id_number_masked", "degree_date",
                        "awarding_unit", "degree", "discipline", "certificate_no"},
}
LAYOUT_KEYS[("mobile", "diploma")] = LAYOUT_KEYS[("web", "diploma")]
LAYOUT_KEYS[("mobile", "degree")] = LAYOUT_KEYS[("web", "degree")]

_CJK_DATE = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")
_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")


def normalize(key, text):
    """Drawn text of one field -> its canonical JSON value (DESIGN.md §4)."""
    t = text.strip()
    if key.endswith("_date"):
        m = _CJK_DATE.fullmatch(t) or _ISO_DATE.fullmatch(t)
        if not m:
            raise ValueError(f"{key}: not a date: {text!r}")
        return dt.date(int(m[1]), int(m[2]), int(m[3])).isoformat()
    if key == "duration":
        t = re.sub(r"\s*年$", "", t)
        if not re.fullmatch(r"\d+(\.\d+)?", t):
            raise ValueError(f"duration: {text!r}")
        return t
    t = re.sub(r"\s+", "", t)
    if key in ("certificate_no", "vcode"):
        return t.upper()
    return t.replace("・", "·").replace("•", "·").replace("‧", "·")


# ------------------------------------------------------------------ rules

def id_number_ok(idn, birth_date, gender):
    if not re.fullmatch(r"\d{17}[\dX]", idn):
        return "format"
    if ID_CHECK[sum(int(c) * w for c, w in zip(idn[:17], ID_WEIGHTS)) % 11] != idn[17]:
        return "check character"
    if f"{idn[6:10]}-{idn[10:12]}-{idn[12:14]}" != birth_date:
        return "birth date"
    if (int(idn[16]) % 2 == 1) != (gender == "男"):
        return "sex digit"
    return None


def diploma_cert_ok(f):
    c = f["certificate_no"]
    if not re.fullmatch(r"\d{18}", c):
        return "not 18 digits"
    if c[5] != SCHOOL_TYPE_DIGIT[f["category"]]:
        return "school type digit vs category"
    if c[6:10] != f["graduation_date"][:4]:
        return "year vs graduation_date"
    if c[10:12] != LEVEL_CODE[f["level"]]:
        return "level code vs level"
    return None


def degree_level(degree_name):
    for lvl in ("博士", "硕士", "学士"):
        if lvl in degree_name:
            return lvl
    return None


def degree_cert_ok(f):
    c = f["certificate_no"]
    if not re.fullmatch(r"\d{16}", c):
        return "not 16 digits"
    lvl = degree_level(f["degree"])
    if lvl is None or c[5] != DEGREE_LEVEL_DIGIT[lvl]:
        return "level digit vs degree"
    if c[6:10] != f["degree_date"][:4]:
        return "year vs degree_date"
    return None


def vcode_ok(v):
    if len(v) != 16 or any(ch not in VCODE_ALPHABET for ch in v):
        return "not 16 chars of the alphabet"
    return None


def record_problems(kind, f):
    """Consistency of an authoritative record (dates, structure)."""
    out = []
    if kind == "diploma":
        if not f["enrollment_date"] < f["graduation_date"]:
            out.append("enrollment not before graduation")
        years = (dt.date.fromisoformat(f["graduation_date"]) - dt.date.fromisoformat(f["enrollment_date"])).days / 365.25
        if abs(years - float(f["duration"])) > 0.5:
            out.append(f"duration {f['duration']} vs {years:.2f} years studied")
        if f["birth_date"] >= f["enrollment_date"]:
            out.append("born after enrollment")
        p = diploma_cert_ok(f)
        if p:
            out.append("certificate_no: " + p)
        if f["completion"] not in ("毕业", "结业"):
            out.append("completion")
    else:
        if f["birth_date"] >= f["degree_date"]:
            out.append("born after degree")
        p = degree_cert_ok(f)
        if p:
            out.append("certificate_no: " + p)
    if f["gender"] not in ("男", "女"):
        out.append("gender")
    return out
