"""Invented people and credentials.

Everything here is synthetic. School and unit names are real-looking (the
verifier does not care whether a code belongs to the named school), the people,
ID numbers, certificate numbers and 在线验证码 are made up, and every number obeys
the structural rules the verifier checks (see check.py).
"""

import datetime as dt
import hashlib
import random

VCODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"
# OCR confuses these with each other (0/D/Q, 1/7, 5/S, 8/B, 2/Z); the codes are
# biased towards them so the tests exercise the hard cases.
VCODE_CONFUSABLE = "01582SBZQD"

ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
ID_CHECK = "10X98765432"

SCHOOL_TYPE_DIGIT = {
    "普通高等教育": "1",
    "成人高等教育": "5",
    "高等教育自学考试": "6",
    "网络教育": "7",
    "开放教育": "8",
}
LEVEL_CODE = {"博士研究生": "01", "硕士研究生": "02", "本科": "05", "专科": "06"}
DEGREE_LEVEL_DIGIT = {"博士": "2", "硕士": "3", "学士": "4"}

DIPLOMA_KEYS = [
    "name", "gender", "birth_date", "enrollment_date", "graduation_date", "school",
    "major", "duration", "level", "category", "study_mode", "completion",
    "certificate_no", "principal",
]
DEGREE_KEYS = [
    "name", "gender", "birth_date", "degree_date", "awarding_unit", "degree",
    "discipline", "certificate_no",
]


def seed_of(*parts):
    h = hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()
    return int(h[:16], 16)


def rng_for(*parts):
    return random.Random(seed_of(*parts))


# ---------------------------------------------------------------- names

SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹彭曾田董潘袁蔡蒋余"
    "于杜叶程魏苏吕丁任卢姚沈钟姜崔谭陆范汪廖石金贾夏付方邹熊白孟秦邱侯江尹薛闫段雷"
    "龙黎史陶贺毛郝顾龚邵万覃武钱戴严莫孔向常汤康易乔赖文")
COMPOUND_SURNAMES = ["欧阳", "司马", "上官", "诸葛", "皇甫", "司徒", "东方", "尉迟",
                     "公孙", "慕容", "令狐", "夏侯", "端木", "宇文", "长孙", "澹台"]
GIVEN_F = list("婷娜静敏丽燕芳霞秀兰慧欣怡佳雪琳颖倩梅蕾雯晴悦萱涵琪岚瑶妍璐茜洁薇莹露")
GIVEN_M = list("伟强磊军勇杰涛斌超明辉鹏飞浩宇晨阳峰刚平毅俊凯帆睿博文昊然旭泽航瀚")
GIVEN_ANY = list("子思一梓嘉晓雨安可宁心诗欣语若佳天")
# The rare characters the OCR layer has to cope with (䶮 is CJK Ext-A and is
# missing from the WenQuanYi fonts, so it falls back to Noto there).
RARE = [("昇", "男"), ("堃", "男"), ("玥", "女"), ("喆", "男"), ("垚", "男"),
        ("赟", "男"), ("燚", "男"), ("䶮", "男"), ("玥", "女"), ("堃", "女")]
MINORITY = [
    ("阿依古丽·买买提", "女", "653101"), ("热依拉·艾尔肯", "女", "650102"),
    ("古丽米拉·阿不都", "女", "653201"), ("迪丽努尔·吐尔洪", "女", "652901"),
    ("帕提古丽·依明", "女", "650104"), ("米热古丽·艾合买提", "女", "653101"),
    ("艾合买提·吐尔逊", "男", "650103"), ("买买提江·阿不力孜", "男", "653201"),
    ("努尔艾力·肉孜", "男", "652901"), ("阿迪力·热合曼", "男", "650102"),
]
PRINCIPAL_SURNAMES = SURNAMES[:60] + ["欧阳", "司马", "诸葛"]

AREA_CODES = ["110101", "110105", "110108", "120101", "120104", "130102", "140105",
              "210102", "220102", "230103", "310104", "310115", "320102", "320583",
              "330106", "340104", "350203", "360102", "370102", "370202", "410105",
              "420106", "430104", "440106", "440305", "450103", "500103", "510107",
              "520102", "530102", "610113", "620102", "640104", "650102"]


def given_name(rng, gender, length=None):
    pool = GIVEN_F if gender == "女" else GIVEN_M
    length = length or rng.choice([1, 2, 2, 2])
    chars = [rng.choice(pool if i == length - 1 else pool + GIVEN_ANY) for i in range(length)]
    return "".join(chars)


def make_name(rng, name_kind, gender):
    """Return (name, gender, area_code_or_None)."""
    if name_kind == "minority":
        name, gender, area = rng.choice(MINORITY)
        return name, gender, area
    if name_kind == "rare":
        ch, gender = rng.choice(RARE)
        sur = rng.choice(SURNAMES)
        if rng.random() < 0.5:
            return sur + ch, gender, None
        other = given_name(rng, gender, 1)
        return sur + (ch + other if rng.random() < 0.5 else other + ch), gender, None
    if name_kind == "compound":
        return rng.choice(COMPOUND_SURNAMES) + given_name(rng, gender), gender, None
    return rng.choice(SURNAMES) + given_name(rng, gender), gender, None


def principal_for(school_code):
    rng = rng_for("principal", school_code)
    g = rng.choice(["男", "男", "女"])
    return rng.choice(PRINCIPAL_SURNAMES) + given_name(rng, g)


# ---------------------------------------------------------------- numbers

def id_check_char(first17):
    return ID_CHECK[sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS)) % 11]


def make_id_number(rng, area, birth, gender):
    seq = rng.randrange(0, 100) * 10 + rng.choice([1, 3, 5, 7, 9] if gender == "男" else [0, 2, 4, 6, 8])
    first17 = f"{area}{birth:%Y%m%d}{seq:03d}"
    return first17 + id_check_char(first17)


def mask_id(idn):
    return idn[:4] + "*" * 10 + idn[-4:]


def make_vcode(rng):
    return "".join(rng.choice(VCODE_CONFUSABLE) if rng.random() < 0.5 else rng.choice(VCODE_ALPHABET)
                   for _ in range(16))


def diploma_cert_no(rng, school_code, category, grad_year, level):
    return (school_code + SCHOOL_TYPE_DIGIT[category] + str(grad_year) + LEVEL_CODE[level]
            + f"{rng.randrange(0, 1000000):06d}")


def degree_cert_no(rng, unit_code, level, year):
    return unit_code + DEGREE_LEVEL_DIGIT[level] + str(year) + f"{rng.randrange(0, 1000000):06d}"


def phone_masked(rng):
    return rng.choice(["133", "135", "138", "139", "150", "152", "158", "177", "180", "186",
                       "188", "199"]) + "****" + f"{rng.randrange(0, 10000):04d}"


# ---------------------------------------------------------------- schools

# (code, name, kind) — kind "univ" awards degrees; "voc" is a vocational college
# (专科 only); "open" is the open university.
UNIVERSITIES = [
    ("10001", "北京大学"), ("10025", "首都医科大学"), ("10062", "天津医科大学"),
    ("10089", "河北医科大学"), ("10114", "山西医科大学"), ("10159", "中国医科大学"),
    ("10183", "吉林大学"), ("10226", "哈尔滨医科大学"), ("10246", "复旦大学"),
    ("10268", "上海中医药大学"), ("10312", "南京医科大学"), ("10315", "南京中医药大学"),
    ("10343", "温州医科大学"), ("10366", "安徽医科大学"), ("10392", "福建医科大学"),
    ("10422", "山东大学"), ("10440", "滨州医学院"), ("10459", "郑州大学"),
    ("10486", "武汉大学"), ("10487", "华中科技大学"), ("10533", "中南大学"),
    ("10558", "中山大学"), ("10570", "广州医科大学"), ("10598", "广西医科大学"),
    ("10610", "四川大学"), ("10631", "重庆医科大学"), ("10698", "西安交通大学"),
    ("10730", "兰州大学"), ("10760", "新疆医科大学"), ("10632", "西南医科大学"),
]
# Invented codes in the 12xxx–14xxx range used by 专科 colleges.
VOC_COLLEGES = [
    ("14019", "北京卫生职业学院"), ("13978", "江苏护理职业学院"), ("12832", "长沙卫生职业学院"),
    ("13416", "重庆医药高等专科学校"), ("12907", "山东医学高等专科学校"),
    ("14213", "黑龙江护理高等专科学校"), ("13325", "漯河医学高等专科学校"),
    ("12974", "安徽医学高等专科学校"), ("14457", "泉州医学高等专科学校"),
]
OPEN_UNIV = ("51161", "国家开放大学")
NET_SCHOOLS = [("10159", "中国医科大学"), ("10183", "吉林大学"), ("10610", "四川大学"),
               ("10422", "山东大学"), ("10533", "中南大学")]
ZIKAO_SCHOOLS = [("10558", "中山大学"), ("10001", "北京大学"), ("10487", "华中科技大学"),
                 ("10312", "南京医科大学")]

BRANCHES = {
    "普通高等教育": ["护理学院", "临床医学院", "药学院", "医学技术学院", "公共卫生学院", "第一临床医学院"],
    "成人高等教育": ["继续教育学院", "成人教育学院"],
    "高等教育自学考试": ["无", "继续教育学院"],
    "网络教育": ["网络教育学院", "远程教育学院"],
    "开放教育": ["无", "北京开放大学", "广东开放大学", "江苏开放大学"],
}
DEPTS = {"护理": "护理系", "护理学": "护理系", "助产": "护理系", "助产学": "护理系",
         "临床医学": "临床医学系", "药学": "药学系", "康复治疗学": "康复医学系",
         "康复治疗技术": "康复医学系", "医学影像技术": "医学影像系", "医学影像学": "医学影像系",
         "医学检验技术": "检验系", "预防医学": "预防医学系", "口腔医学": "口腔医学系",
         "内科学": "内科学系", "外科学": "外科学系", "药剂学": "药剂学系"}

# major -> duration for full-time study
BACHELOR_MAJORS = [("护理学", "4"), ("护理学", "4"), ("临床医学", "5"), ("药学", "4"),
                   ("康复治疗学", "4"), ("医学影像技术", "4"), ("医学检验技术", "4"),
                   ("助产学", "4"), ("预防医学", "5"), ("口腔医学", "5")]
ADULT_BACHELOR_MAJORS = [("护理学", "2.5"), ("护理学", "3"), ("药学", "2.5"), ("临床医学", "3"),
                         ("医学影像学", "3"), ("康复治疗学", "2.5"), ("护理学", "2.5")]
JUNIOR_MAJORS = [("护理", "3"), ("护理", "3"), ("助产", "3"), ("临床医学", "3"), ("药学", "3"),
                 ("康复治疗技术", "3"), ("医学影像技术", "3"), ("医学检验技术", "3")]
ADULT_JUNIOR_MAJORS = [("护理", "2.5"), ("护理", "3"), ("药学", "2.5"), ("医学检验技术", "3")]
MASTER_MAJORS = [("护理学", "3"), ("护理", "2"), ("内科学", "3"), ("外科学", "3"), ("药学", "3")]
DOCTOR_MAJORS = [("护理学", "4"), ("内科学", "3"), ("外科学", "4")]

BACHELOR_DEGREE = {"护理学": "理学学士学位", "药学": "理学学士学位", "康复治疗学": "理学学士学位",
                   "医学影像技术": "理学学士学位", "医学检验技术": "理学学士学位", "助产学": "理学学士学位",
                   "临床医学": "医学学士学位", "预防医学": "医学学士学位", "口腔医学": "医学学士学位",
                   "医学影像学": "医学学士学位"}
MASTER_DEGREES = [("护理学", "医学硕士学位"), ("护理", "护理硕士专业学位"), ("内科学", "医学硕士学位"),
                  ("内科学", "临床医学硕士专业学位"), ("药学", "药学硕士专业学位"),
                  ("药剂学", "理学硕士学位"), ("护理", "护理硕士专业学位")]
DOCTOR_DEGREES = [("护理学", "医学博士学位"), ("内科学", "医学博士学位"), ("外科学", "临床医学博士专业学位")]


def _date(y, m, d):
    return dt.date(y, m, d)


def _add_days(d, n):
    return d + dt.timedelta(days=n)


def _report_dates(rng, finished):
    """更新日期 and 有效期至 of the report (or page) the candidate screenshotted."""
    latest = _date(2026, 10, 31)
    span = (latest - finished).days
    updated = _add_days(finished, 30 + rng.randrange(0, max(1, span - 30)))
    valid_until = _add_days(updated, rng.choice([30, 60, 90, 180, 365]) - 1)
    return updated, valid_until


def _branch(rng, category, school_code):
    """分院 shown on the 学信档案 page (a distractor for the parser)."""
    if any(school_code == c for c, _ in VOC_COLLEGES):
        return rng.choice(["护理学院", "医学技术系", "药学系", "无"])
    if category == "普通高等教育" and rng.random() < 0.3:
        return "无"
    return rng.choice(BRANCHES[category])


def make_diploma(rng, name_kind, track):
    """track: (category, level) pair chosen by the caller for coverage."""
    category, level = track
    gender = rng.choice(["男", "女", "女"])
    name, gender, area = make_name(rng, name_kind, gender)
    area = area or rng.choice(AREA_CODES)

    if category == "开放教育":
        school_code, school = OPEN_UNIV
    elif category == "网络教育":
        school_code, school = rng.choice(NET_SCHOOLS)
    elif category == "高等教育自学考试":
        school_code, school = rng.choice(ZIKAO_SCHOOLS)
    elif level == "专科" and category == "普通高等教育":
        school_code, school = rng.choice(VOC_COLLEGES)
    else:
        school_code, school = rng.choice(UNIVERSITIES)

    full_time = category == "普通高等教育"
    if level == "本科":
        major, duration = rng.choice(BACHELOR_MAJORS if full_time else ADULT_BACHELOR_MAJORS)
    elif level == "专科":
        major, duration = rng.choice(JUNIOR_MAJORS if full_time else ADULT_JUNIOR_MAJORS)
    elif level == "硕士研究生":
        major, duration = rng.choice(MASTER_MAJORS)
    else:
        major, duration = rng.choice(DOCTOR_MAJORS)

    if category == "普通高等教育":
        study_mode = "非全日制" if level == "硕士研究生" and rng.random() < 0.4 else "普通全日制"
    elif category == "成人高等教育":
        study_mode = rng.choice(["函授", "函授", "业余"])
    else:
        study_mode = "业余"

    spring_intake = category in ("开放教育", "网络教育") and rng.random() < 0.5
    enroll_year = rng.randrange(2006, 2022)
    if spring_intake:
        enrollment = _date(enroll_year, 3, rng.randrange(1, 16))
    else:
        enrollment = _date(enroll_year, 9, rng.randrange(1, 16))
    months = round(float(duration) * 12)
    gm = enrollment.month + months - 2  # finish in the month before the anniversary
    gy = enrollment.year + (gm - 1) // 12
    gm = (gm - 1) % 12 + 1
    if gm in (6, 7):
        graduation = _date(gy, gm, rng.choice([20, 25, 28, 30] if gm == 6 else [1, 5, 10, 15]))
    else:
        graduation = _date(gy, gm, rng.choice([10, 15, 20, 25, 30] if gm != 2 else [10, 20, 25]))
    while graduation > _date(2025, 7, 15):
        enrollment = enrollment.replace(year=enrollment.year - 1)
        graduation = graduation.replace(year=graduation.year - 1)

    if full_time and level in ("本科", "专科"):
        age = rng.randrange(17, 20)
    elif level in ("硕士研究生", "博士研究生"):
        age = rng.randrange(22, 30)
    else:
        age = rng.randrange(20, 40)
    birth = _date(enrollment.year - age, rng.randrange(1, 13), rng.randrange(1, 29))

    completion = "结业" if rng.random() < 0.12 else "毕业"
    idn = make_id_number(rng, area, birth, gender)
    updated, valid_until = _report_dates(rng, graduation)
    fields = {
        "name": name, "gender": gender, "birth_date": birth.isoformat(),
        "enrollment_date": enrollment.isoformat(), "graduation_date": graduation.isoformat(),
        "school": school, "major": major, "duration": duration, "level": level,
        "category": category, "study_mode": study_mode, "completion": completion,
        "certificate_no": diploma_cert_no(rng, school_code, category, graduation.year, level),
        "principal": principal_for(school_code),
    }
    return {
        "kind": "diploma", "fields": fields, "id_number": idn, "vcode": make_vcode(rng),
        "updated": updated.isoformat(), "valid_until": valid_until.isoformat(),
        "branch": _branch(rng, category, school_code),
        "dept": DEPTS.get(major, "无") if rng.random() < 0.5 else "无",
        "phone": phone_masked(rng),
    }


def make_degree(rng, name_kind, level):
    gender = rng.choice(["男", "女", "女"])
    name, gender, area = make_name(rng, name_kind, gender)
    area = area or rng.choice(AREA_CODES)
    unit_code, unit = rng.choice(UNIVERSITIES)
    if level == "学士":
        discipline = rng.choice([m for m, _ in BACHELOR_MAJORS] + ["医学影像学"])
        degree = BACHELOR_DEGREE[discipline]
        age = rng.randrange(21, 24)
    elif level == "硕士":
        discipline, degree = rng.choice(MASTER_DEGREES)
        age = rng.randrange(24, 33)
    else:
        discipline, degree = rng.choice(DOCTOR_DEGREES)
        age = rng.randrange(28, 38)
    year = rng.randrange(2008, 2026)
    if level == "博士" and rng.random() < 0.3:
        degree_date = _date(year, 12, rng.choice([10, 18, 25]))
    else:
        degree_date = _date(year, rng.choice([6, 6, 7]), rng.randrange(1, 31))
    if degree_date > _date(2025, 7, 15):
        degree_date = degree_date.replace(year=2024)
    birth = _date(degree_date.year - age, rng.randrange(1, 13), rng.randrange(1, 29))
    idn = make_id_number(rng, area, birth, gender)
    updated, valid_until = _report_dates(rng, degree_date)
    fields = {
        "name": name, "gender": gender, "birth_date": birth.isoformat(),
        "degree_date": degree_date.isoformat(), "awarding_unit": unit, "degree": degree,
        "discipline": discipline,
        "certificate_no": degree_cert_no(rng, unit_code, level, degree_date.year),
    }
    return {
        "kind": "degree", "fields": fields, "id_number": idn, "vcode": make_vcode(rng),
        "updated": updated.isoformat(), "valid_until": valid_until.isoformat(),
        "phone": phone_masked(rng),
    }
