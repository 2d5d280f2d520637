"""HTML for the four page layouts.

Every value the OCR tests expect is wrapped in an element carrying
`data-field="<canonical key>"`; its label carries `data-label-for`. The
expected JSON is read back from those elements in the rendered page (see
gen.py), so the contract always describes what was drawn. Distractors
(更新日期, 有效期至, 分院, 系所, the phone number, the footer) are plain text.
"""

import datetime as dt
import html
import random

from .data import mask_id, seed_of

FONT_STACK_TAIL = "'Noto Sans CJK SC', sans-serif"


def esc(s):
    return html.escape(str(s), quote=True)


def fmt_date(iso, style):
    d = dt.date.fromisoformat(iso)
    if style == "iso":
        return d.isoformat()
    return f"{d.year}年{d.month:02d}月{d.day:02d}日"


def fmt_duration(duration, style):
    return {"bare": duration, "space": f"{duration} 年", "tight": f"{duration}年"}[style]


def fmt_vcode(code, grouped):
    return " ".join(code[i:i + 4] for i in range(0, 16, 4)) if grouped else code


def label_text(base, v):
    """Apply the label conventions of a variant to a base label like 毕(结)业日期."""
    t = base
    if v["brackets"] == "full":
        t = t.replace("(", "（").replace(")", "）")
    if v.get("label_style") == "ideo" and len(t) == 2:
        # 姓名 -> 姓　　名: the official forms pad two-character labels to four
        # ideographic cells.
        t = t[0] + "\u3000\u3000" + t[1]
    return t


def label_em_width(text):
    """Approximate advance of a label in em: CJK full width, ASCII half."""
    return sum(0.5 if ord(ch) < 0x2000 else 1.0 for ch in text)


def colon(v):
    return {"none": "", "full": "：", "half": ":"}[v["colon"]]


def qr_matrix(seed):
    """A QR-looking module grid (finder patterns + noise). Not decodable, on purpose."""
    rng = random.Random(seed_of("qr", seed))
    n = 29
    cells = [[rng.random() < 0.5 for _ in range(n)] for _ in range(n)]

    def finder(r0, c0):
        for r in range(-1, 8):
            for c in range(-1, 8):
                rr, cc = r0 + r, c0 + c
                if 0 <= rr < n and 0 <= cc < n:
                    ring = max(abs(r - 3), abs(c - 3))
                    cells[rr][cc] = ring in (0, 1, 3) if 0 <= r < 7 and 0 <= c < 7 else False

    finder(0, 0)
    finder(0, n - 7)
    finder(n - 7, 0)
    return cells


# The photo and the QR block are drawn by Pillow into these empty boxes after
# the capture (see slots.py): Chromium anti-aliases SVG shapes slightly
# differently from one run to the next, which would make the fixtures churn.
def qr_slot(seed, px):
    return f'<div class="slot" data-img="qr" data-seed="{esc(seed)}" style="width:{px}px;height:{px}px;background:#fff"></div>'


def photo_slot(w, h):
    return f'<div class="slot" data-img="photo" style="width:{w}px;height:{h}px;background:#c8c8c8"></div>'


def page(body, css, font):
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><style>
html, body {{ margin:0; padding:0; }}
body {{ position:relative; font-family:'{font}', {FONT_STACK_TAIL}; -webkit-font-smoothing:antialiased; }}
[data-field] {{ white-space:nowrap; }}
.slot {{ display:inline-block; flex:none; vertical-align:middle; }}
{css}
</style></head><body>{body}</body></html>
"""


# ------------------------------------------------------------------ report / degree

DIPLOMA_ROWS = [
    ("name", "姓名"), ("gender", "性别"), ("birth_date", "出生日期"),
    ("enrollment_date", "入学日期"), ("graduation_date", "毕(结)业日期"),
    ("school", "学校名称"), ("major", "专业"), ("duration", "学制"), ("level", "层次"),
    ("category", "学历类别"), ("study_mode", "学习形式"), ("completion", "毕(结)业"),
    ("certificate_no", "证书编号"), ("principal", "校(院)长姓名"),
]
DEGREE_ROWS = [
    ("name", "姓名"), ("gender", "性别"), ("birth_date", "出生日期"), ("degree_date", "获学位日期"),
    ("awarding_unit", "学位授予单位"), ("degree", "所授学位"), ("discipline", "学科/专业"),
    ("certificate_no", "学位证书编号"),
]


def value_text(key, rec, v):
    f = rec["fields"]
    if key == "id_number_masked":
        return mask_id(rec["id_number"])
    if key == "vcode":
        return fmt_vcode(rec["vcode"], v.get("vcode_grouped", False))
    val = f[key]
    if key.endswith("_date"):
        return fmt_date(val, v["date_style"])
    if key == "duration":
        return fmt_duration(val, v["duration_style"])
    return val


def report_doc(rec, v):
    diploma = rec["kind"] == "diploma"
    rows = DIPLOMA_ROWS if diploma else DEGREE_ROWS
    title = "教育部学历证书电子注册备案表" if diploma else "中国高等教育学位在线验证报告"
    en = ("Online Verification Report of Higher Education Qualification Certificate" if diploma
          else "Online Verification Report of China Higher Education Degree")
    base = v["font_px"]
    accent = v["accent"]
    struct = v["struct"]
    upd = fmt_date(rec["updated"], v["date_style"])
    until = fmt_date(rec["valid_until"], "cjk")
    if diploma:
        note = (f"注：1.《教育部学历证书电子注册备案表》是依据教育部学历证书电子注册制度出具的学历证书电子注册信息证明。"
                f"2.本报告在线验证有效期至{until}。3.可登录学信网（https://www.chsi.com.cn/xlcx/bgcx.jsp）"
                f"输入在线验证码进行查询验证。")
    else:
        note = (f"注：1.本报告依据中国高等教育学位信息数据库出具。2.本报告在线验证有效期至{until}。"
                f"3.请登录学信网（https://www.chsi.com.cn/xlcx/bgcx.jsp）输入在线验证码进行查询验证。")

    just_em = max(label_em_width(label_text(b, v)) for _, b in rows)
    trs = []
    for key, base_label in rows:
        lab = label_text(base_label, v)
        if v["label_style"] == "justify":
            lab_html = f'<span class="just">{esc(lab)}</span>{esc(colon(v))}'
        else:
            lab_html = esc(lab + colon(v))
        trs.append(f'<tr><td class="lab"><span data-label-for="{key}">{lab_html}</span></td>'
                   f'<td class="val"><span data-field="{key}">{esc(value_text(key, rec, v))}</span></td></tr>')

    vc_label = "在线验证码" + ("：" if v["colon"] != "half" else ":")
    body = f"""
<div class="sheet"><div class="frame">
  <div class="brand"><b>学信网</b><span>www.chsi.com.cn</span></div>
  <h1 data-keep>{title}</h1>
  {'<div class="en">' + en + '</div>' if v["english"] else ''}
  <div class="upd"><span data-keep>更新日期：{esc(upd)}</span></div>
  <div class="main">
    <table class="fields {struct}">{''.join(trs)}</table>
    <div class="ph" data-keep>{photo_slot(v["photo_w"], round(v["photo_w"] * 1.3))}</div>
  </div>
  <div class="vrow">{qr_slot(rec["vcode"], v["qr_px"])}
    <div class="vc"><span data-label-for="vcode">{vc_label}</span><span data-field="vcode" class="code">{esc(value_text("vcode", rec, v))}</span></div>
  </div>
  <div class="note" data-keep>{esc(note)}</div>
</div></div>"""

    label_w = v["label_em"]
    css = f"""
body {{ background:{v["surround"]}; }}
.sheet {{ padding:{v["sheet_pad"]}px; }}
.frame {{ background:{v["paper"]}; border:{v["border_px"]}px solid {accent}; padding:{round(base * 2)}px {round(base * 2.4)}px {round(base * 1.6)}px; }}
.brand {{ font-size:{round(base * 0.95)}px; color:{accent}; }}
.brand b {{ font-weight:{700 if v["bold_brand"] else 400}; margin-right:8px; }}
.brand span {{ color:#777; font-size:{round(base * 0.8)}px; font-family:'Noto Sans CJK SC', sans-serif; }}
h1 {{ text-align:center; font-size:{round(base * v["title_scale"])}px; font-weight:{v["title_weight"]};
     letter-spacing:{v["title_spacing"]}em; margin:{round(base * 0.9)}px 0 {round(base * 0.2)}px; color:#222; }}
.en {{ text-align:center; color:#888; font-size:{round(base * 0.78)}px; font-family:'Noto Serif CJK SC', serif; }}
.upd {{ text-align:right; color:#555; font-size:{round(base * 0.92)}px; margin:{round(base * 0.8)}px 0 {round(base * 0.6)}px; }}
.main {{ display:flex; justify-content:space-between; align-items:flex-start; }}
table.fields {{ border-collapse:collapse; font-size:{base}px; color:#222; }}
table.fields td {{ padding:{round(base * v["row_pad"])}px {round(base * 0.7)}px; vertical-align:middle; }}
table.fields td.lab {{ min-width:{label_w}em; color:{v["label_color"]}; white-space:nowrap; }}
table.fields td.val {{ min-width:{v["value_em"]}em; font-weight:{v["value_weight"]}; }}
table.grid td {{ border:1px solid #c9c9c9; }}
table.grid td.lab {{ background:{v["label_bg"]}; }}
table.rules td {{ border-bottom:1px solid #d6d6d6; }}
table.rules tr:first-child td {{ border-top:1px solid #d6d6d6; }}
table.plain td {{ padding-left:0; }}
.just {{ display:inline-block; width:{just_em}em; text-align:justify; text-align-last:justify; }}
.ph {{ margin-left:{base * 2}px; }}
.vrow {{ display:flex; align-items:center; margin:{round(base * 1.8)}px 0 {round(base * 1.2)}px {v["qr_indent"]}px; }}
.vc {{ white-space:nowrap; margin-left:{round(base * 1.4)}px; font-size:{round(base * v["vc_scale"])}px; color:#222; }}
.vc .code {{ font-weight:{v["vcode_weight"]}; letter-spacing:{v["vcode_spacing"]}em; }}
.note {{ border-top:1px solid #ddd; padding-top:{round(base * 0.8)}px; color:#666; font-size:{round(base * 0.82)}px; line-height:1.75; }}
"""
    return body, css


# ------------------------------------------------------------------ web (学信档案)

WEB_DIPLOMA_GRID = [
    ("name", "姓名"), ("gender", "性别"), ("id_number_masked", "证件号码"), ("birth_date", "出生日期"),
    ("enrollment_date", "入学日期"), ("graduation_date", "毕(结)业日期"), ("school", "学校名称"),
    ("*branch", "分院"), ("major", "专业"), ("*dept", "系所"), ("duration", "学制"), ("level", "层次"),
    ("category", "学历类别"), ("study_mode", "学习形式"), ("completion", "毕(结)业"),
    ("certificate_no", "证书编号"), ("principal", "校(院)长姓名"), (None, ""),
]
WEB_DEGREE_GRID = [
    ("name", "姓名"), ("gender", "性别"), ("id_number_masked", "证件号码"), ("birth_date", "出生日期"),
    ("awarding_unit", "学位授予单位"), ("degree_date", "获学位日期"), ("degree", "所授学位"),
    ("discipline", "学科/专业"), ("certificate_no", "学位证书编号"), (None, ""),
]


def web_doc(rec, v):
    diploma = rec["kind"] == "diploma"
    grid = WEB_DIPLOMA_GRID if diploma else WEB_DEGREE_GRID
    base = v["font_px"]
    hdr = v["accent"]
    cells = []
    for key, base_label in grid:
        if key is None:
            cells.append('<div class="l"></div><div class="v"></div>')
            continue
        lab = esc(label_text(base_label, v) + colon(v))
        if key.startswith("*"):
            val = esc(rec[key[1:]])
            cells.append(f'<div class="l">{lab}</div><div class="v">{val}</div>')
        else:
            cells.append(f'<div class="l"><span data-label-for="{key}">{lab}</span></div>'
                         f'<div class="v"><span data-field="{key}">{esc(value_text(key, rec, v))}</span></div>')
    active = "学历" if diploma else "学位"
    tabs = "".join(f'<div class="tab{" on" if t == active else ""}">{t}</div>' for t in ["学籍", "学历", "学位", "考研信息"])
    nav = "".join(f'<span class="{"on" if i == 1 else ""}">{t}</span>' for i, t in
                  enumerate(["首页", "高等教育信息", "在线验证报告", "出国教育背景信息服务", "图像校对", "调查/投票", "就业"]))
    hint = ("以下信息来源于高校学历电子注册，如有疑问请与学校联系。" if diploma
            else "以下信息来源于学位授予单位上报的学位信息，如有疑问请与学位授予单位联系。")
    body = f"""
<div class="top"><div class="wrap"><span class="logo" data-keep>学信档案</span><span class="dom">chsi.com.cn</span>
  <span class="user">欢迎您，{esc(rec["phone"])}<i>|</i>退出</span></div></div>
<div class="nav"><div class="wrap">{nav}</div></div>
<div class="wrap">
  <div class="tabs" data-keep>{tabs}</div>
  <div class="hint">{hint}</div>
  <div class="card">
    <div class="pcol">{photo_slot(v["photo_w"], round(v["photo_w"] * 1.35))}<div class="pcap">{"毕业照片" if diploma else "学位照片"}</div></div>
    <div class="grid {v["struct"]}">{''.join(cells)}</div>
  </div>
</div>
<div class="foot">Copyright © 2003-2025 学信网 All Rights Reserved</div>"""
    css = f"""
body {{ background:{v["surround"]}; font-size:{base}px; color:#333; }}
.wrap {{ width:{v["wrap_w"]}px; margin:0 auto; position:relative; }}
.top {{ background:{hdr}; color:#fff; height:{round(base * 3.8)}px; line-height:{round(base * 3.8)}px; }}
.logo {{ font-size:{round(base * 1.75)}px; font-weight:700; }}
.dom {{ font-size:{round(base * 0.9)}px; margin-left:10px; opacity:.85; font-family:'Noto Sans CJK SC', sans-serif; }}
.user {{ position:absolute; right:0; top:0; font-size:{round(base * 0.95)}px; }}
.user i {{ font-style:normal; margin:0 10px; opacity:.7; }}
.nav {{ background:#fff; border-bottom:1px solid #e3e3e3; }}
.nav span {{ display:inline-block; padding:{round(base * 0.9)}px 0; margin-right:{round(base * 1.9)}px; font-size:{round(base * 1.05)}px; }}
.nav span.on {{ color:{hdr}; border-bottom:3px solid {hdr}; font-weight:700; }}
.tabs {{ display:flex; margin-top:{round(base * 1.2)}px; border-bottom:2px solid {hdr}; }}
.tab {{ padding:{round(base * 0.55)}px {round(base * 1.7)}px; background:#e9edf2; margin-right:4px; border-radius:4px 4px 0 0; }}
.tab.on {{ background:{hdr}; color:#fff; }}
.hint {{ color:#888; font-size:{round(base * 0.9)}px; margin:{round(base * 0.8)}px 0; }}
.card {{ background:#fff; border:1px solid #e1e1e1; border-radius:4px; padding:{round(base * 1.4)}px; display:flex; }}
.pcol {{ width:{v["photo_w"] + 20}px; text-align:center; color:#888; font-size:{round(base * 0.9)}px; }}
.grid {{ display:grid; grid-template-columns:minmax({v["lab_w"]}px, max-content) minmax({v["val_w"]}px, max-content) minmax({v["lab_w"] + 40}px, max-content) minmax({v["val_w"]}px, max-content);
  margin-left:{round(base * 2)}px; align-self:flex-start; }}
.grid > div {{ padding:{round(base * v["row_pad"])}px {round(base * 0.6)}px; white-space:nowrap; }}
.grid.dashed .l {{ text-align:right; color:#666; border-bottom:1px dashed #e0e0e0; }}
.grid.dashed .v {{ color:#222; border-bottom:1px dashed #e0e0e0; }}
.grid.table {{ border-left:1px solid #d9d9d9; border-top:1px solid #d9d9d9; }}
.grid.table > div {{ border-right:1px solid #d9d9d9; border-bottom:1px solid #d9d9d9; }}
.grid.table .l {{ background:#f3f4f6; color:#555; }}
.foot {{ text-align:center; color:#999; font-size:{round(base * 0.85)}px; padding:{round(base * 2)}px 0 {round(base * 1.2)}px; }}
"""
    return body, css


# ------------------------------------------------------------------ mobile app

MOBILE_DIPLOMA_ROWS = [
    ("name", "姓名"), ("gender", "性别"), ("id_number_masked", "证件号码"), ("birth_date", "出生日期"),
    ("enrollment_date", "入学日期"), ("graduation_date", "毕(结)业日期"), ("school", "学校名称"),
    ("*branch", "分院"), ("major", "专业"), ("duration", "学制"), ("level", "层次"),
    ("category", "学历类别"), ("study_mode", "学习形式"), ("completion", "毕(结)业"),
    ("certificate_no", "证书编号"), ("principal", "校(院)长姓名"),
]
MOBILE_DEGREE_ROWS = [
    ("name", "姓名"), ("gender", "性别"), ("id_number_masked", "证件号码"), ("birth_date", "出生日期"),
    ("degree_date", "获学位日期"), ("awarding_unit", "学位授予单位"), ("degree", "所授学位"),
    ("discipline", "学科/专业"), ("certificate_no", "学位证书编号"),
]


def status_icons_slot(color, battery):
    return (f'<div class="slot" data-img="status" data-seed="{battery}" data-color="{color}" '
            f'style="width:70px;height:14px"></div>')


def mobile_doc(rec, v):
    diploma = rec["kind"] == "diploma"
    rows = MOBILE_DIPLOMA_ROWS if diploma else MOBILE_DEGREE_ROWS
    base = v["font_px"]
    lis = []
    for key, base_label in rows:
        if key in v["omit"]:
            continue
        lab = esc(label_text(base_label, v) + colon(v))
        if key.startswith("*"):
            lis.append(f'<div class="row"><span class="l">{lab}</span><span class="v">{esc(rec[key[1:]])}</span></div>')
        else:
            lis.append(f'<div class="row"><span class="l" data-label-for="{key}">{lab}</span>'
                       f'<span class="v" data-field="{key}">{esc(value_text(key, rec, v))}</span></div>')
    sb_bg, sb_fg = v["statusbar"]
    title = "学历信息" if diploma else "学位信息"
    body = f"""
<div class="screen">
<div class="sb"><span class="time">{v["clock"]}</span><span class="icons">{status_icons_slot(sb_fg, v["battery"])}</span></div>
<div class="tb"><span class="back">‹</span><span class="tt" data-keep>{title}</span><span class="more">···</span></div>
<div class="card">
  <div class="prow">{photo_slot(v["photo_w"], round(v["photo_w"] * 1.35))}<span>{"学历照片" if diploma else "学位照片"}</span></div>
  {''.join(lis)}
</div>
{'<div class="tip">' + esc(v["tip"]) + '</div>' if v["tip"] else ''}
<div class="home"></div>
</div>"""
    tb_bg, tb_fg = v["titlebar"]
    css = f"""
body {{ background:{v["bg"]}; }}
.screen {{ min-height:{v["screen_h"]}px; position:relative; padding-bottom:{round(base * 3)}px; box-sizing:border-box; }}
.sb {{ background:{sb_bg}; color:{sb_fg}; height:{v["sb_h"]}px; display:flex; align-items:center; justify-content:space-between;
      padding:0 {round(base * 1.4)}px; font-size:{round(base * 0.98)}px; font-weight:600; font-family:'Noto Sans CJK SC', sans-serif; }}
.tb {{ background:{tb_bg}; color:{tb_fg}; height:{round(base * 3)}px; display:flex; align-items:center; justify-content:space-between; padding:0 {round(base * 0.9)}px;
      border-bottom:{'1px solid #e5e5e5' if tb_bg in ('#ffffff', '#f7f7f7') else 'none'}; }}
.back {{ font-size:{round(base * 2)}px; line-height:1; }}
.tt {{ font-size:{round(base * 1.15)}px; font-weight:700; }}
.more {{ font-size:{round(base * 1.1)}px; letter-spacing:1px; }}
.card {{ background:#fff; margin:{v["card_margin"]}px; border-radius:{v["radius"]}px; overflow:hidden; }}
.prow {{ display:flex; align-items:center; padding:{round(base * 0.9)}px {round(base * 1.1)}px; border-bottom:1px solid #e6e6e6; color:#999; font-size:{round(base * 0.85)}px; }}
.prow .slot {{ margin-right:{round(base * 1.1)}px; }}
.row {{ display:flex; justify-content:space-between; align-items:center; padding:{round(base * v["row_pad"])}px {round(base * 1.1)}px; border-bottom:1px solid #eeeeee; font-size:{base}px; }}
.row:last-child {{ border-bottom:none; }}
.row .l {{ color:{v["label_color"]}; white-space:nowrap; margin-right:{round(base * 0.8)}px; }}
.row .v {{ color:#1f1f1f; text-align:right; }}
.tip {{ color:#999; font-size:{round(base * 0.8)}px; text-align:center; margin:{round(base * 0.6)}px {round(base)}px; }}
.home {{ position:absolute; left:50%; bottom:{round(base * 0.6)}px; width:134px; margin-left:-67px; height:5px; border-radius:3px; background:{v["home_color"]}; }}
"""
    return body, css
