"""Which fixture gets which person, look and degradation.

Choices that the test set must cover (fonts, label styles, name kinds,
degradations) are dealt out systematically rather than drawn at random, so
the coverage holds by construction; the rest comes from per-fixture seeded
generators, so one fixture can change without reshuffling the others.
"""

import random

from . import data
from .data import rng_for

PER_LAYOUT = 20
FONTS = ["Noto Sans CJK SC", "Noto Serif CJK SC", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei"]

DIPLOMA_TRACKS = [
    ("普通高等教育", "本科"), ("成人高等教育", "专科"), ("普通高等教育", "专科"), ("开放教育", "本科"),
    ("成人高等教育", "本科"), ("网络教育", "本科"), ("普通高等教育", "硕士研究生"), ("高等教育自学考试", "本科"),
    ("普通高等教育", "本科"), ("网络教育", "专科"), ("开放教育", "专科"), ("普通高等教育", "博士研究生"),
    ("成人高等教育", "本科"), ("普通高等教育", "专科"), ("高等教育自学考试", "专科"),
]
DEGREE_LEVELS = ["学士", "硕士", "学士", "博士", "学士", "硕士"]

# Post-render steps per degraded fixture; "watermark" and "dark-status-bar"
# are applied while rendering, the rest on the captured image.
DEGRADE_SETS = {
    "report": [["jpeg", "scale"], ["rotate", "noise", "jpeg"], ["watermark", "jpeg"], ["crop", "scale"],
               ["watermark", "rotate", "scale", "jpeg"], ["crop", "noise", "jpeg"], ["rotate", "scale", "jpeg"],
               ["watermark", "crop", "jpeg"], ["jpeg"], ["crop", "rotate", "scale", "noise", "jpeg"]],
    "degree": [["watermark", "scale", "jpeg"], ["crop", "jpeg"], ["rotate", "jpeg"], ["scale", "noise", "jpeg"],
               ["watermark", "crop", "rotate", "jpeg"], ["scale"], ["noise", "rotate", "jpeg"],
               ["crop", "scale", "jpeg"], ["watermark", "jpeg"], ["rotate", "crop", "scale", "jpeg"]],
    "web": [["jpeg"], ["watermark", "scale", "jpeg"], ["crop", "rotate", "jpeg"], ["scale"], ["noise", "jpeg"],
            ["watermark", "crop", "scale"], ["rotate", "scale", "jpeg"], ["crop", "noise", "jpeg"],
            ["watermark", "rotate", "jpeg"], ["crop", "scale", "jpeg"]],
    "mobile": [["scale"], ["dark-status-bar", "jpeg"], ["dark-surround", "scale", "jpeg"], ["watermark", "scale"],
               ["crop-status-bar", "jpeg"], ["dark-surround", "rotate", "noise", "jpeg"],
               ["dark-status-bar", "watermark", "scale", "jpeg"], ["crop", "scale", "jpeg"],
               ["crop-status-bar", "watermark", "scale"], ["dark-surround", "dark-status-bar", "scale", "jpeg"]],
}


def _deal(name, items, n):
    """n items cycling through `items`, in a seeded order."""
    out = [items[i % len(items)] for i in range(n)]
    random.Random(data.seed_of("deal", name)).shuffle(out)
    return out


def _name_kinds(layout):
    kinds = ["rare"] * 3 + ["minority"] * 2 + ["compound"] * 2
    return _deal("names-" + layout, kinds + ["common"] * (PER_LAYOUT - len(kinds)), PER_LAYOUT)


def _degraded_flags(layout):
    return _deal("degraded-" + layout, [True, False], PER_LAYOUT)


def fixtures():
    specs = []
    dip_i = deg_i = 0
    for li, layout in enumerate(["report", "degree", "web", "mobile"]):
        name_kinds = _name_kinds(layout)
        flags = _degraded_flags(layout)
        deg_sets = iter(DEGRADE_SETS[layout])
        for i in range(PER_LAYOUT):
            name = f"{layout}-{i + 1:03d}"
            if layout == "report":
                kind = "diploma"
            elif layout == "degree":
                kind = "degree"
            elif layout == "web":
                kind = "degree" if i % 10 in (2, 6, 9) else "diploma"
            else:
                kind = "degree" if i % 2 else "diploma"
            rrng = rng_for("record", name)
            if kind == "diploma":
                rec = data.make_diploma(rrng, name_kinds[i], DIPLOMA_TRACKS[dip_i % len(DIPLOMA_TRACKS)])
                dip_i += 1
            else:
                rec = data.make_degree(rrng, name_kinds[i], DEGREE_LEVELS[deg_i % len(DEGREE_LEVELS)])
                deg_i += 1
            steps = next(deg_sets) if flags[i] else []
            font = FONTS[(i + li) % len(FONTS)]
            vrng = rng_for("variant", name)
            variant = VARIANTS[layout](vrng, i, font, steps, rec)
            specs.append({"name": name, "layout": layout, "kind": kind, "record": rec, "name_kind": name_kinds[i],
                          "variant": variant, "steps": steps, "font": font})
    return specs


# ------------------------------------------------------------------ looks

ACCENTS = ["#1b5e9e", "#2b6cb0", "#0f7b6c", "#3a6ea5", "#1d4e89", "#4a7c59", "#24508a"]


def _common_labels(rng, i, struct):
    brackets = "full" if i % 2 else "half"
    if struct == "grid":
        label_style = ["plain", "ideo"][i % 2 == 0 and rng.random() < 0.6]
        colon = "full" if rng.random() < 0.3 else "none"
    elif struct == "rules":
        label_style = rng.choice(["plain", "ideo"])
        colon = rng.choice(["full", "half", "none"])
    else:
        label_style = ["ideo", "justify", "plain"][i % 3]
        colon = rng.choice(["full", "full", "half"])
    return {"brackets": brackets, "label_style": label_style, "colon": colon}


def report_variant(rng, i, font, steps, rec):
    struct = ["grid", "plain", "rules", "grid", "plain", "rules", "grid"][i % 7]
    sizes = [(820, 1.25), (760, 2.0), (900, 1.5), (1000, 1.5), (700, 2.0), (1050, 1.5),
             (860, 1.75), (800, 1.6), (960, 1.25), (740, 1.8)]
    if "scale" in steps:
        # Downscaled uploads start from a sharp, high-density capture.
        sizes = [s for s in sizes if s[1] >= 1.75]
    width, dsf = sizes[i % len(sizes)]
    base = rng.choice([15, 16, 17, 18])
    v = {
        "layout": "report", "font": font, "width": width, "dsf": dsf, "font_px": base, "struct": struct,
        "date_style": "iso" if i % 4 == 3 else "cjk",
        "duration_style": ["space", "tight", "bare"][i % 3],
        "vcode_grouped": i % 3 == 1,
        "english": rec["kind"] == "diploma" and rng.random() < 0.75 or rng.random() < 0.2,
        "accent": rng.choice(ACCENTS),
        "paper": rng.choice(["#ffffff", "#ffffff", "#fffdf7", "#fbfbf8"]),
        "surround": rng.choice(["#ffffff", "#eef1f4", "#e8e8e8"]),
        "sheet_pad": rng.choice([0, 12, 20, 28]),
        "border_px": rng.choice([1, 2, 2, 3]),
        "bold_brand": rng.random() < 0.6,
        "title_scale": rng.choice([1.8, 2.0, 2.2]),
        "title_weight": rng.choice([400, 500, 700]),
        "title_spacing": rng.choice([0, 0.05, 0.12]),
        "row_pad": rng.choice([0.45, 0.55, 0.7]) if struct != "plain" else rng.choice([0.3, 0.4]),
        "label_em": rng.choice([5.5, 6.5, 7]),
        "value_em": rng.choice([9, 11, 13]),
        "label_color": rng.choice(["#333", "#444", "#1f3f6a"]),
        "label_bg": rng.choice(["#f3f4f6", "#eef3f9", "#f7f7f2"]),
        "value_weight": 700 if struct == "plain" and rng.random() < 0.5 else 400,
        "photo_w": rng.choice([110, 125, 140]),
        "qr_px": rng.choice([96, 110, 128]),
        "qr_indent": rng.choice([0, 0, 160]),
        "vc_scale": rng.choice([1.1, 1.2, 1.3]),
        "vcode_weight": rng.choice([400, 700]),
        "vcode_spacing": rng.choice([0, 0.04]),
        "watermark": "watermark" in steps,
    }
    v.update(_common_labels(rng, i, struct))
    return v


def web_variant(rng, i, font, steps, rec):
    sizes = [(1280, 1.0), (1366, 1.0), (1440, 1.25), (1536, 1.0), (1280, 1.5), (1600, 1.0),
             (1440, 1.0), (1280, 1.25)]
    if "scale" in steps:
        sizes = [(1280, 1.5), (1200, 1.5), (1100, 1.75)]
    width, dsf = sizes[i % len(sizes)]
    base = rng.choice([14, 15, 16])
    struct = "table" if i % 3 == 1 else "dashed"
    v = {
        "layout": "web", "font": font, "width": width, "dsf": dsf, "font_px": base, "struct": struct,
        "date_style": "iso" if i % 2 else "cjk",
        "duration_style": ["space", "bare", "tight"][i % 3],
        "accent": rng.choice(["#0b6bb8", "#1e6fc8", "#2a5caa", "#1565c0"]),
        "surround": rng.choice(["#f3f4f7", "#f5f5f5", "#eef2f6"]),
        "wrap_w": rng.choice([975, 1000, 1060]),
        "photo_w": rng.choice([100, 115]),
        "lab_w": round(base * 6.6), "val_w": round(base * 13),
        "row_pad": rng.choice([0.45, 0.6]),
        "brackets": "full" if i % 4 in (0, 1) else "half",
        "label_style": "plain" if struct == "dashed" or i % 2 else "ideo",
        "colon": ("half" if i % 2 else "full") if struct == "dashed" else "none",
        "watermark": "watermark" in steps,
    }
    return v


MOBILE_DEVICES = [(360, 800, 3.0), (390, 844, 2.0), (414, 896, 2.0), (375, 812, 2.0), (432, 960, 2.5),
                  (360, 780, 2.0), (384, 854, 2.8125), (412, 915, 2.0), (400, 889, 2.7)]
TITLEBARS = [("#13a8a8", "#ffffff"), ("#1677ff", "#ffffff"), ("#2a9d5c", "#ffffff"), ("#ffffff", "#222222"),
             ("#0b6bb8", "#ffffff")]


def mobile_variant(rng, i, font, steps, rec):
    width, screen_h, dsf = MOBILE_DEVICES[i % len(MOBILE_DEVICES)]
    titlebar = TITLEBARS[i % len(TITLEBARS)]
    if "dark-status-bar" in steps:
        statusbar = ("#000000", "#ffffff")
    elif titlebar[0] == "#ffffff":
        statusbar = ("#ffffff", "#111111")
    else:
        statusbar = titlebar
    omit = set()
    if i % 3 == 0:
        omit.add("id_number_masked")
    if rec["kind"] == "diploma":
        if i % 4 == 2:
            omit.add("principal")
        if i % 2 == 0:
            omit.add("*branch")
    base = rng.choice([15, 16, 17])
    v = {
        "layout": "mobile", "font": font, "width": width, "dsf": dsf, "screen_h": screen_h, "font_px": base,
        "sb_h": rng.choice([24, 28, 44]),
        "titlebar": titlebar, "statusbar": statusbar,
        "date_style": "cjk" if i % 5 == 2 else "iso",
        "duration_style": ["tight", "bare", "space"][i % 3],
        "brackets": "full" if i % 3 == 1 else "half",
        "label_style": "plain",
        "colon": ["none", "full", "none", "half"][i % 4],
        "label_color": rng.choice(["#2b5797", "#666666", "#888888", "#333333"]),
        "row_pad": 0.7 if rec["kind"] == "degree" else rng.choice([0.5, 0.6]),
        "card_margin": rng.choice([0, 10, 12]),
        "radius": rng.choice([0, 8, 12]),
        "photo_w": rng.choice([50, 56]),
        "bg": rng.choice(["#f2f2f2", "#f4f5f7", "#eeeeee"]),
        "home_color": rng.choice(["#111111", "#111111", "#9a9a9a"]),
        "clock": f"{rng.randrange(7, 24):02d}:{rng.randrange(0, 60):02d}",
        "battery": rng.randrange(4, 17),
        "tip": rng.choice(["", "", "以上信息来源于学信网，如有疑问请与学校联系", "数据来源：学信网"]),
        "omit": sorted(omit),
        "watermark": "watermark" in steps,
    }
    return v


VARIANTS = {"report": report_variant, "degree": report_variant, "web": web_variant, "mobile": mobile_variant}


def describe(v, kind):
    """One line for meta.variant: the look choices a test might filter on."""
    parts = [v["layout"] if v["layout"] != "report" else "report-sheet"]
    if "struct" in v:
        parts.append(f"struct={v['struct']}")
    parts += [f"labels={v['label_style']}", f"colon={v['colon']}", f"brackets={v['brackets']}",
              f"dates={v['date_style']}"]
    if kind == "diploma":
        parts.append(f"duration={v['duration_style']}")
    if v.get("vcode_grouped"):
        parts.append("vcode=grouped4")
    parts += [f"font_px={v['font_px']}", f"css_width={v['width']}", f"dsf={v['dsf']:g}"]
    if v["layout"] == "mobile":
        parts.append(f"titlebar={v['titlebar'][0]}")
        if v["omit"]:
            parts.append("omitted=" + ",".join(k.lstrip("*") for k in v["omit"]))
    return "; ".join(parts)
