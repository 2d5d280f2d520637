#!/usr/bin/env python3
"""Render CHSI pages that are not a single credential, and pages of other layouts.

    python3 pages.py [--out DIR]

Writes fixtures/pages/NAME.png and NAME.json ({"layout": ..., "kind": ...,
"fields": {...}, "meta": {"what": ..., "not_expected": ...}}): what the reader
must make of each. The index of report kinds, a query page's header, an
图像采集码 card and the app's index of several cards name reports or show a
title, but none is a report (layout null, so not_a_chsi_result). The others
are read, and `fields` holds the canonical keys the reader must return
(normalised as in fixtures/screenshots/README.md):

  enrollment-card   学籍 report, today's one-column card, framed code line
  enrollment-table  学籍 report, the older table: short labels (院校, 形式,
                    类型…), a 样本 watermark, a guilloche under the values
  diploma-2010      2010-era 备案表: 入学时间, 学历类型, `学 习 形 式`,
                    毕结业结论…, two pairs a row, a 12-digit code in groups of
                    four with its caption below it
  archive-2010      2010 学信档案 desktop page (创建日期, 有效期至): web
  archive-today     today's 学信档案 学籍 page, two label：value columns, a
                    tab title 硕士-学校-专业, faint 学信网 watermarks: web,
                    kind enrollment

`meta.not_expected` names drawn fields the reader does not return yet. Only
new or changed pages need writing back: another Chromium or font version
moves pixels of the rest. Everyone and every code on them is invented.
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
    # The current 学籍 report, one-column card markup: empty 院系/班级 rows
    # kept, 学制 2.5 年, the expected graduation inside the status, a framed
    # code line with its caption before the code.
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
<div class="row"><span class="l">专业</span><span class="v">护理</span></div>
<div class="row"><span class="l">学号</span><span class="v">202207140233</span></div>
<div class="row"><span class="l">层次</span><span class="v">专科</span></div>
<div class="row"><span class="l">学制</span><span class="v">2.5 年</span></div>
<div class="row"><span class="l">学习形式</span><span class="v">普通全日制</span></div>
<div class="row"><span class="l">入学日期</span><span class="v">2022年09月01日</span></div>
<div class="row"><span class="l">学籍状态</span><span class="v">注册学籍（预计毕业日期：2025年01月01日）</span></div>
<div class="vc">在线验证码 A5SB 8Z2Q D01K 7TQW</div></div>"""),
    # The older 学籍 report: a table of two label/value pairs a row, a 样本
    # watermark across it and a guilloche pattern under the values.
    "enrollment-table": (900, 1.5, None, "enrollment", """
<style>
.sheet { margin:24px; padding:26px 34px; border:1px solid #b8c4d6; position:relative; overflow:hidden; }
h1 { text-align:center; font-size:30px; font-weight:700; margin:0 0 4px; letter-spacing:2px; }
.upd { text-align:right; color:#555; font-size:15px; margin:8px 0 12px; }
table { width:100%; border-collapse:collapse; font-size:18px; }
th, td { border:1px solid #9fb0c8; padding:11px 12px; text-align:left; }
th { width:90px; background:#eef2f8; font-weight:400; color:#333; }
td { width:250px; background-color:#fbfcfe;
  background-image:repeating-radial-gradient(circle at 30% 60%, rgba(120,160,210,.10) 0 2px, transparent 2px 7px),
    repeating-linear-gradient(35deg, rgba(150,180,220,.10) 0 1px, transparent 1px 6px),
    repeating-linear-gradient(-35deg, rgba(150,180,220,.10) 0 1px, transparent 1px 6px); }
.wm { position:absolute; left:0; top:0; right:0; bottom:0; pointer-events:none; display:flex; align-items:center; justify-content:center; }
.wm span { transform:rotate(-30deg); font-size:210px; font-weight:700; color:rgba(200,40,40,.10); letter-spacing:60px; }
.vc { margin-top:20px; font-size:19px; }
.note { color:#777; font-size:14px; margin-top:14px; line-height:1.7; }
</style>
<div class="sheet"><h1>教育部学籍在线验证报告</h1><div class="upd">更新日期：2019年11月05日</div>
<table>
<tr><th>姓名</th><td>韩思远</td><th>性别</th><td>男</td></tr>
<tr><th>出生日期</th><td>2000年08月21日</td><th>民族</th><td>汉族</td></tr>
<tr><th>院校</th><td>河南中医药大学</td><th>层次</th><td>本科</td></tr>
<tr><th>院系</th><td>护理学院</td><th>班级</th><td>护理学本科三班</td></tr>
<tr><th>专业</th><td>护理学</td><th>学号</th><td>201805213047</td></tr>
<tr><th>形式</th><td>普通全日制</td><th>类型</th><td>普通高等教育</td></tr>
<tr><th>入学日期</th><td>2018年09月03日</td><th>学制</th><td>4 年</td></tr>
<tr><th>学籍状态</th><td colspan="3">在籍（注册学籍）</td></tr>
</table>
<div class="vc">在线验证码：A2QS 7B8D K5ZM 0R1T</div>
<div class="note">注：本报告依据教育部学籍电子注册备案数据出具，在线验证有效期至2020年05月05日。</div>
<div class="wm"><span>样本</span></div></div>"""),
    # The 2010-era 备案表: other label words, two label/value pairs a row,
    # a 12-digit code in groups of four with its caption below it.
    "diploma-2010": (980, 1.5, None, "report", """
<style>
.sheet { margin:24px; padding:28px 36px; border:1px solid #c9c9c9; }
h1 { text-align:center; font-size:30px; font-weight:700; margin:0 0 18px; letter-spacing:3px; }
table { width:100%; border-collapse:collapse; font-size:18px; }
th, td { border:1px solid #8a8a8a; padding:11px 12px; text-align:left; }
th { width:110px; font-weight:400; color:#333; background:#f4f4f4; }
td { width:270px; }
.foot { display:flex; justify-content:space-between; align-items:flex-end; margin-top:26px; }
.foot .dates { font-size:17px; line-height:2; }
.code { text-align:center; }
.code .n { font-size:28px; font-weight:700; letter-spacing:2px; }
.code .c { font-size:17px; color:#444; margin-top:6px; }
.note { color:#777; font-size:14px; margin-top:18px; line-height:1.7; }
</style>
<div class="sheet"><h1>教育部学历证书电子注册备案表</h1>
<table>
<tr><th>姓名</th><td>周文博</td><th>性别</th><td>男</td></tr>
<tr><th>出生日期</th><td>1987年03月12日</td><th>入学时间</th><td>2006年09月01日</td></tr>
<tr><th>毕业时间</th><td>2010年07月01日</td><th>学历类型</th><td>普通高等教育</td></tr>
<tr><th>学历层次</th><td>本科</td><th>毕业院校</th><td>河南中医学院</td></tr>
<tr><th>院校所在地</th><td>河南省郑州市</td><th>专业名称</th><td>护理学</td></tr>
<tr><th>学 习 形 式</th><td>普通全日制</td><th>毕结业结论</th><td>毕业</td></tr>
<tr><th>证书编号</th><td colspan="3">104711201005001234</td></tr>
</table>
<div class="foot"><div class="dates">制表日期：2010年08月20日<br>验证期至：2011年02月20日</div>
<div class="code"><div class="n">2817 5093 6641</div><div class="c">在线验证码</div></div></div>
<div class="note">注：本表依据教育部学历证书电子注册制度出具，可登录学信网输入在线验证码进行查询验证。</div></div>"""),
    # The 2010 学信档案 desktop page: the 学历 record as a table, the
    # report's creation and expiry dates beside it.
    "archive-2010": (1280, 1.0, None, "web", """
<style>
.top { background:#2b6cb0; color:#fff; padding:12px 30px; font-size:24px; font-weight:700; }
.top span { font-size:14px; font-weight:400; margin-left:10px; }
.main { display:flex; margin:20px 30px; }
.menu { width:180px; border:1px solid #ccd6e3; font-size:15px; }
.menu div { padding:10px 14px; border-bottom:1px solid #e4e9f0; }
.menu div.on { background:#e6eef8; color:#2b6cb0; font-weight:700; }
.body { flex:1; margin-left:24px; }
h2 { font-size:20px; margin:0 0 12px; color:#2b6cb0; }
table { border-collapse:collapse; font-size:16px; width:100%; }
th, td { border:1px solid #c6d0dc; padding:9px 12px; text-align:left; }
th { width:110px; background:#f1f5fa; font-weight:400; color:#444; }
.rep { margin-top:22px; border:1px solid #c6d0dc; padding:12px 16px; font-size:16px; }
.rep span { margin-right:48px; }
</style>
<div class="top">学信档案<span>www.chsi.com.cn</span></div>
<div class="main"><div class="menu"><div>个人信息</div><div class="on">学历信息</div><div>学籍信息</div><div>在线验证报告</div><div>修改密码</div></div>
<div class="body"><h2>高等教育学历信息</h2>
<table>
<tr><th>姓名</th><td>宋佳怡</td><th>性别</th><td>女</td></tr>
<tr><th>出生日期</th><td>1988年11月30日</td><th>民族</th><td>汉族</td></tr>
<tr><th>毕业院校</th><td>新乡医学院</td><th>专业名称</th><td>护理学</td></tr>
<tr><th>学历层次</th><td>专科</td><th>学制</th><td>3 年</td></tr>
<tr><th>学历类别</th><td>普通高等教育</td><th>学习形式</th><td>普通全日制</td></tr>
<tr><th>入学时间</th><td>2007年09月01日</td><th>毕业时间</th><td>2010年06月30日</td></tr>
<tr><th>毕结业结论</th><td>毕业</td><th>证书编号</th><td>104721201006004521</td></tr>
</table>
<div class="rep"><span>学历电子注册备案表</span><span>创建日期：2010年09月02日</span><span>有效期至：2011年03月02日</span></div>
</div></div>"""),
    # Today's 学信档案 学籍 page: two label：value columns, the record's
    # tab titled level-school-major, faint 学信网 watermarks.
    "archive-today": (1366, 1.0, None, "web", """
<style>
body { background:#f5f6f8; }
.top { background:#1c5aa6; color:#fff; padding:14px 40px; font-size:24px; font-weight:700; }
.top span { font-size:14px; font-weight:400; margin-left:12px; opacity:.85; }
.nav { background:#fff; padding:0 40px; border-bottom:1px solid #e3e3e3; font-size:16px; }
.nav b { display:inline-block; padding:13px 0; margin-right:30px; font-weight:400; }
.nav b.on { color:#1c5aa6; border-bottom:3px solid #1c5aa6; font-weight:700; }
.wrap { width:1140px; margin:18px auto; position:relative; }
.tabs { display:flex; border-bottom:2px solid #1c5aa6; font-size:16px; }
.tabs div { padding:8px 22px; background:#e9edf2; margin-right:4px; border-radius:4px 4px 0 0; }
.tabs div.on { background:#1c5aa6; color:#fff; }
.card { background:#fff; border:1px solid #e1e1e1; padding:24px 30px; margin-top:14px; position:relative; overflow:hidden; }
.rec { font-size:19px; font-weight:700; margin-bottom:16px; }
.cols { display:flex; font-size:16px; }
.cols > div { flex:1; }
.cols p { margin:0; padding:8px 0; }
.cols p i { font-style:normal; color:#777; }
.wm { position:absolute; left:0; top:0; right:0; bottom:0; pointer-events:none; overflow:hidden; }
.wm span { position:absolute; transform:rotate(-25deg); color:rgba(0,0,0,.05); font-size:30px; }
</style>
<div class="top">学信档案<span>chsi.com.cn</span></div>
<div class="nav"><b>首页</b><b class="on">高等教育信息</b><b>在线验证报告</b><b>出国教育背景信息服务</b><b>调查/投票</b></div>
<div class="wrap">
<div class="tabs"><div class="on">学籍</div><div>学历</div><div>学位</div><div>考研信息</div></div>
<div class="card"><div class="rec">硕士-武汉理工大学-机械工程</div>
<div class="cols"><div>
<p><i>姓名：</i>邓子墨</p><p><i>性别：</i>男</p><p><i>出生日期：</i>1999年02月14日</p><p><i>民族：</i>汉族</p>
<p><i>证件号码：</i>4201**********3312</p><p><i>学校名称：</i>武汉理工大学</p><p><i>层次：</i>硕士研究生</p>
<p><i>专业：</i>机械工程</p><p><i>学制：</i>3 年</p>
</div><div>
<p><i>学历类别：</i>普通高等教育</p><p><i>学习形式：</i>全日制</p><p><i>分院：</i>机电工程学院</p><p><i>系所：</i>机械设计系</p>
<p><i>班级：</i>机械硕士班</p><p><i>学号：</i>2021305120</p><p><i>入学日期：</i>2021年09月06日</p>
<p><i>学籍状态：</i>在籍（注册学籍）</p><p><i>预计毕业日期：</i>2024年06月30日</p>
</div></div>
<div class="wm"><span style="left:40px;top:30px">学信网</span><span style="left:420px;top:120px">学信网</span><span style="left:800px;top:40px">学信网</span><span style="left:200px;top:260px">学信网</span><span style="left:640px;top:330px">学信网</span><span style="left:980px;top:250px">学信网</span></div>
</div></div>"""),
}

# What the reader must make of each page: its layout and kind, and the
# fields it must read (canonical keys, normalised values). Pages that are no
# report have none.
EXPECTED = {
    "chsi-report-index": (None, None), "query-header": (None, None),
    "image-capture-code": (None, None), "app-record-index": (None, None),
    "enrollment-card": ("enrollment", "enrollment"),
    "enrollment-table": ("enrollment", "enrollment"),
    "diploma-2010": ("report", "diploma"),
    "archive-2010": ("web", "diploma"),
    "archive-today": ("web", "enrollment"),
}

# The fields each report page draws, as the reader must return them.
FIELDS = {
    "enrollment-card": {
        "name": "林雨桐", "gender": "女", "birth_date": "2003-04-18", "school": "郑州大学",
        "major": "护理", "student_no": "202207140233", "level": "专科", "duration": "2.5",
        "study_mode": "普通全日制", "enrollment_date": "2022-09-01",
        "enrollment_status": "注册学籍(预计毕业日期:2025年01月01日)",
        "expected_graduation_date": "2025-01-01", "vcode": "A5SB8Z2QD01K7TQW",
    },
    "enrollment-table": {
        "name": "韩思远", "gender": "男", "birth_date": "2000-08-21", "school": "河南中医药大学",
        "level": "本科", "department": "护理学院", "class_name": "护理学本科三班", "major": "护理学",
        "student_no": "201805213047", "study_mode": "普通全日制", "category": "普通高等教育",
        "enrollment_date": "2018-09-03", "duration": "4", "enrollment_status": "在籍(注册学籍)",
        "vcode": "A2QS7B8DK5ZM0R1T",
    },
    "diploma-2010": {
        "name": "周文博", "gender": "男", "birth_date": "1987-03-12", "enrollment_date": "2006-09-01",
        "graduation_date": "2010-07-01", "category": "普通高等教育", "level": "本科",
        "school": "河南中医学院", "major": "护理学", "study_mode": "普通全日制", "completion": "毕业",
        "certificate_no": "104711201005001234", "vcode": "281750936641",
    },
    "archive-2010": {
        "name": "宋佳怡", "gender": "女", "birth_date": "1988-11-30", "school": "新乡医学院",
        "major": "护理学", "level": "专科", "duration": "3", "category": "普通高等教育",
        "study_mode": "普通全日制", "enrollment_date": "2007-09-01", "graduation_date": "2010-06-30",
        "completion": "毕业", "certificate_no": "104721201006004521",
    },
    "archive-today": {
        "name": "邓子墨", "gender": "男", "birth_date": "1999-02-14", "id_number_masked": "4201**********3312",
        "school": "武汉理工大学", "level": "硕士研究生", "major": "机械工程", "duration": "3",
        "category": "普通高等教育", "study_mode": "全日制", "class_name": "机械硕士班",
        "student_no": "2021305120", "enrollment_date": "2021-09-06", "enrollment_status": "在籍(注册学籍)",
        "expected_graduation_date": "2024-06-30",
    },
}

# Drawn fields the reader is not expected to return yet, and why.
NOT_EXPECTED = {
    "archive-today": {
        "department": "分院 (and 系所) stay distractors on 学信档案 pages, as on the 学历 tab; "
                      "the service's 学籍 report names the department 院系",
    },
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(REPO, "fixtures", "pages"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gen-pages-") as tmp, Chromium() as chrome:
        for name, (width, dsf, height, _shape, body) in PAGES.items():
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
            layout, k = EXPECTED[name]
            doc = {"layout": layout, "kind": k}
            if name in FIELDS:
                doc["fields"] = FIELDS[name]
            doc["meta"] = {"what": name}
            if name in NOT_EXPECTED:
                doc["meta"]["not_expected"] = NOT_EXPECTED[name]
            with open(os.path.join(args.out, name + ".json"), "w", encoding="utf-8") as fh:
                fh.write(json.dumps(doc, ensure_ascii=False, indent=1) + "\n")
            print(f"{name}: {img.size[0]}x{img.size[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
