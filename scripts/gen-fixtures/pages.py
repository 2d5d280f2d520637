#!/usr/bin/env python3
"""Render CHSI pages that are not a single credential, and a 学籍 report.

    python3 pages.py [--out DIR]

Writes fixtures/pages/NAME.png and NAME.json ({"layout": ..., "kind": ...,
"meta": {"what": ...}}): what the reader must make of each. The index of
report kinds, a query page's header, an 图像采集码 card and the app's index
of several cards name reports or show a title, but none is a report
(layout null, so not_a_chsi_result); the 学籍 report is one, of kind
enrollment. Everyone on them is invented.
"""

import argparse
import io
import json
import os
import sys
import tempfile

from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fixturegen.chrome import Chromium  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))

BASE_CSS = """
html, body { margin:0; padding:0; background:#fff; color:#222;
  font-family:'Noto Sans CJK SC', sans-serif; -webkit-font-smoothing:antialiased; }
"""

PAGES = {
    # The 学信档案 page listing the three report kinds, each with its buttons.
    "chsi-report-index": (1280, 1.25, None, "web", """
<style>
.hdr { background:#0b6bb8; color:#fff; padding:14px 40px; font-size:26px; font-weight:700; }
.hdr span { font-size:15px; font-weight:400; margin-left:12px; opacity:.85; }
.nav { padding:0 40px; border-bottom:1px solid #ddd; font-size:16px; }
.nav b { display:inline-block; padding:14px 0; margin-right:34px; font-weight:400; }
.nav b.on { color:#0b6bb8; border-bottom:3px solid #0b6bb8; font-weight:700; }
.list { margin:30px 40px; }
.item { display:flex; justify-content:space-between; align-items:center; border:1px solid #e2e2e2;
  padding:22px 26px; margin-bottom:18px; font-size:20px; }
.item i { font-style:normal; font-size:15px; color:#888; display:block; margin-top:6px; }
.btn { display:inline-block; border:1px solid #0b6bb8; color:#0b6bb8; padding:6px 18px; margin-left:10px; font-size:16px; }
</style>
<div class="hdr">学信档案<span>chsi.com.cn</span></div>
<div class="nav"><b>首页</b><b>高等教育信息</b><b class="on">在线验证报告</b><b>出国教育背景信息服务</b></div>
<div class="list">
 <div class="item"><div>教育部学籍在线验证报告<i>已申请 有效期至2026年12月31日</i></div><div><span class="btn">查看</span><span class="btn">延长验证有效期</span></div></div>
 <div class="item"><div>教育部学历证书电子注册备案表<i>未申请</i></div><div><span class="btn">申请</span></div></div>
 <div class="item"><div>中国高等教育学位在线验证报告<i>未申请</i></div><div><span class="btn">申请</span></div></div>
</div>"""),
    # The query page: its header names all three reports.
    "query-header": (1200, 1.0, None, "web", """
<style>
.top { border-bottom:3px solid #1e6fc8; padding:16px 40px; font-size:22px; color:#1e6fc8; font-weight:700; }
h1 { font-size:28px; text-align:center; margin:60px 0 30px; font-weight:500; }
.form { width:560px; margin:0 auto; font-size:18px; }
.form div { margin:18px 0; }
.box { display:inline-block; width:360px; height:34px; border:1px solid #bbb; vertical-align:middle; margin-left:12px; }
.go { display:inline-block; background:#1e6fc8; color:#fff; padding:8px 40px; margin-left:104px; }
.tip { color:#888; font-size:15px; margin-top:40px; text-align:center; }
</style>
<div class="top">学信网 中国高等教育学生信息网</div>
<h1>学籍/学历/学位在线验证报告查询</h1>
<div class="form"><div>在线验证码<span class="box"></span></div><div>验　证　码<span class="box" style="width:160px"></span></div>
<div><span class="go">查询</span></div></div>
<div class="tip">请输入报告上的在线验证码进行查询</div>"""),
    # An 图像采集码 card, phone.
    "image-capture-code": (390, 2.5, 844, "mobile", """
<style>
.bar { background:#13a8a8; color:#fff; text-align:center; padding:14px; font-size:18px; font-weight:700; }
.card { margin:20px 16px; border-radius:10px; box-shadow:0 1px 6px rgba(0,0,0,.15); padding:20px; font-size:16px; }
.code { font-size:34px; letter-spacing:4px; text-align:center; margin:20px 0; font-weight:700; }
.card p { color:#666; font-size:14px; line-height:1.7; }
</style>
<div class="bar">图像采集码</div>
<div class="card"><div>姓名：林雨桐</div><div class="code">7K4Q 2M9X</div>
<p>请将图像采集码提供给学历照片采集机构，用于学历证书电子注册图像采集。图像采集码有效期为30天。</p></div>"""),
    # The app's index: several records at once, none of them the record.
    "app-record-index": (390, 2.5, 844, "mobile", """
<style>
.bar { background:#1677ff; color:#fff; text-align:center; padding:14px; font-size:18px; font-weight:700; }
.tabs { display:flex; justify-content:space-around; font-size:16px; padding:10px 0; border-bottom:1px solid #eee; }
.tabs .on { color:#1677ff; font-weight:700; }
.card { margin:14px 16px; border-radius:10px; box-shadow:0 1px 6px rgba(0,0,0,.15); padding:14px 18px; font-size:16px; }
.card b { display:inline-block; background:#e8f1ff; color:#1677ff; font-size:13px; padding:2px 8px; margin-right:8px; font-weight:400; }
.card div { color:#666; font-size:14px; margin-top:6px; }
</style>
<div class="bar">高等教育信息</div>
<div class="tabs"><span class="on">学籍</span><span>学历</span><span>学位</span></div>
<div class="card"><b>学籍</b>郑州大学<div>护理学 · 硕士研究生 · 在籍</div></div>
<div class="card"><b>学历</b>河南中医药大学<div>护理学 · 本科 · 毕业</div></div>
<div class="card"><b>学位</b>河南中医药大学<div>理学学士学位</div></div>
<div class="card"><b>学籍</b>河南中医药大学<div>护理学 · 本科 · 毕业</div></div>"""),
    # The current 学籍 report, one-column card markup, framed code line.
    "enrollment-card": (760, 2.0, None, "enrollment", """
<style>
.sheet { margin:20px; border:2px solid #3a6ea5; padding:28px 36px; }
h1 { text-align:center; font-size:30px; font-weight:500; margin:0 0 6px; }
.upd { text-align:right; color:#555; font-size:15px; margin:10px 0; }
.row { display:flex; font-size:17px; padding:9px 0; border-bottom:1px solid #e4e4e4; }
.row .l { width:130px; color:#555; } .row .v { flex:1; }
.vc { border:1px solid #999; display:inline-block; padding:8px 16px; margin-top:22px; font-size:19px; }
</style>
<div class="sheet"><h1>教育部学籍在线验证报告</h1><div class="upd">更新日期：2026年09月18日</div>
<div class="row"><span class="l">姓名</span><span class="v">林雨桐</span></div>
<div class="row"><span class="l">性别</span><span class="v">女</span></div>
<div class="row"><span class="l">出生日期</span><span class="v">2003年04月18日</span></div>
<div class="row"><span class="l">院校</span><span class="v">郑州大学</span></div>
<div class="row"><span class="l">院系</span><span class="v"></span></div>
<div class="row"><span class="l">班级</span><span class="v"></span></div>
<div class="row"><span class="l">专业</span><span class="v">护理学</span></div>
<div class="row"><span class="l">学号</span><span class="v">202107140233</span></div>
<div class="row"><span class="l">层次</span><span class="v">本科</span></div>
<div class="row"><span class="l">学制</span><span class="v">4 年</span></div>
<div class="row"><span class="l">学习形式</span><span class="v">普通全日制</span></div>
<div class="row"><span class="l">入学日期</span><span class="v">2021年09月01日</span></div>
<div class="row"><span class="l">学籍状态</span><span class="v">注册学籍（预计毕业日期：2025年06月30日）</span></div>
<div class="vc">在线验证码 A5SB 8Z2Q D01K 7TQW</div></div>"""),
}

EXPECTED = {"web": (None, None), "mobile": (None, None), "enrollment": ("enrollment", "enrollment")}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(REPO, "fixtures", "pages"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gen-pages-") as tmp, Chromium() as chrome:
        for name, (width, dsf, height, kind, body) in PAGES.items():
            path = os.path.join(tmp, name + ".html")
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(f"<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><style>{BASE_CSS}</style>"
                         f"</head><body>{body}</body></html>")
            png, _probe = chrome.render(path, width, dsf, min_height=height or 0)
            img = Image.open(io.BytesIO(png)).convert("RGB")
            buf = io.BytesIO()
            img.save(buf, "PNG", optimize=True)
            with open(os.path.join(args.out, name + ".png"), "wb") as fh:
                fh.write(buf.getvalue())
            layout, k = EXPECTED[kind]
            doc = {"layout": layout, "kind": k, "meta": {"what": name}}
            with open(os.path.join(args.out, name + ".json"), "w", encoding="utf-8") as fh:
                fh.write(json.dumps(doc, ensure_ascii=False, indent=1) + "\n")
            print(f"{name}: {img.size[0]}x{img.size[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
