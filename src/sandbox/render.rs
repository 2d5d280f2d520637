//! Pages in the verification service's format (see the samples the client is
//! tested against): the same labels, classes and messages.

use super::registry::RegistryReport;
use crate::domain::{Field, Kind};

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn shell(title: &str, main: &str) -> String {
    format!(
        r#"<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="/assets/css/report.css">
</head>
<body>
<div class="header"><div class="logo"><a href="/">中国高等教育学生信息网（学信网）</a></div>
<ul class="nav"><li><a href="/xlcx/">学历查询</a></li><li><a href="/xlcx/bgcx.jsp">在线验证</a></li></ul></div>
<div class="container main">
{main}
</div>
<div class="footer"><p>主办单位：学信网（本地演示环境）</p></div>
</body>
</html>
"#
    )
}

/// Dates as the service prints them: `2021年06月30日`.
fn chinese_date(iso: &str) -> String {
    match (iso.get(0..4), iso.get(5..7), iso.get(8..10)) {
        (Some(y), Some(m), Some(d)) => format!("{y}年{m}月{d}日"),
        _ => iso.to_string(),
    }
}

fn label(field: Field, kind: Kind) -> &'static str {
    match (field, kind) {
        (Field::certificate_no, Kind::Degree) => "学位证书编号",
        (f, _) => f.label(),
    }
}

pub fn report(r: &RegistryReport, vcode: &str) -> String {
    let heading = r.kind.report_title();
    let mut items = String::new();
    for &f in r.kind.fields() {
        let Some(v) = r.fields.get(f) else { continue };
        let shown = match f.class() {
            crate::domain::fields::FieldClass::Date => chinese_date(v),
            _ if f == Field::duration => format!("{v} 年"),
            _ => v.to_string(),
        };
        let class = if matches!(f, Field::school | Field::awarding_unit) {
            "value long"
        } else {
            "value"
        };
        items.push_str(&format!(
            "      <div class=\"report-info-item\"><div class=\"label\">{}</div><div class=\"{class}\">{}</div></div>\n",
            label(f, r.kind),
            escape(&shown)
        ));
    }
    let updated = r
        .updated
        .as_deref()
        .map(chinese_date)
        .unwrap_or_else(|| "2025年01月01日".into());
    let main = format!(
        r#"  <div id="resultTable" class="report-box">
    <h4>{heading}</h4>
    <div class="update-time">更新日期：{updated}</div>
    <div class="report-info">
{items}    </div>
    <div class="report-yzm">在线验证码：<span class="yzm">{}</span></div>
  </div>"#,
        escape(vcode)
    );
    shell(&format!("学信网-{heading}"), &main)
}

fn error_page(h2: &str) -> String {
    shell(
        "学信网-在线验证",
        &format!(
            "  <div class=\"result-error\">\n    <h2>{h2}</h2>\n    <p class=\"yzbg-tips\">如有疑问，请联系报告持有人。</p>\n  </div>"
        ),
    )
}

pub fn invalid() -> String {
    error_page("此在线验证码无效！")
}

pub fn expired() -> String {
    error_page("在线验证报告已过期，无法在线验证。")
}

pub fn closed() -> String {
    error_page("在线验证报告已关闭，无法在线验证。")
}

pub fn illegal() -> String {
    shell(
        "学信网-在线验证",
        "  <div id=\"msgDiv\" class=\"alert\">系统检测到非法访问，不合要求的在线验证码！</div>",
    )
}

pub fn captcha() -> String {
    shell(
        "学信网-安全验证",
        r#"  <div class="captcha-box">
    <p>请输入验证码以继续当前操作</p>
    <form id="getXueLi" action="/xlcx/yzm.do" method="post">
      <img src="/capachaimg.jpg" alt="验证码"><input type="text" name="cap" maxlength="4">
      <input type="submit" name="submit" value="继续">
    </form>
  </div>"#,
    )
}

pub fn maintenance() -> String {
    shell(
        "学信网-系统维护",
        "  <div class=\"notice\"><h2>系统维护中，请稍后再试。</h2></div>",
    )
}

/// The start of a page as the live service serves it, up to the end of
/// the anti-bot token its scripts read from a meta tag (`r="m"`).
fn token_head(token: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n<meta content=\"{{{token}\" r=\"m\">\n"
    )
}

/// The anti-bot front door: a body that is only a script, which computes a
/// cookie from the meta token and reloads. Like the live one it sets nothing
/// for a browser that announces automation or headlessness, so such a
/// browser stays here.
pub fn front_door(token: &str, cookie_name: &str) -> String {
    let head = token_head(token);
    format!(
        r#"{head}<script type="text/javascript" r="m">
(function(){{
if (navigator.webdriver || /Headless/i.test(navigator.userAgent)) return;
var _$t=document.querySelector('meta[r="m"]').content.slice(1,17),_$d=new Date(Date.now()+600000);
document.cookie="{cookie_name}="+_$t.split('').reverse().join('')+"; path=/; expires="+_$d.toUTCString();
location.reload();
}})();
</script>
</head>
<body></body>
</html>
"#
    )
}

/// The certificate number as the table markup prints it: groups of four.
fn grouped(v: &str) -> String {
    v.chars()
        .collect::<Vec<_>>()
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The table markup (`div.tableTitle`, `th` → `td`, one or two pairs a
/// row), as in the answer captured from the live service: ASCII brackets,
/// `3 年`, the certificate number in groups, an anti-bot script in the head
/// whose strings are no page text, and the fields of `r.drawn` as images
/// under `/report/img/`.
pub fn report_table(r: &RegistryReport, vcode: &str) -> String {
    let heading = r.kind.report_title();
    let mut cells: Vec<(String, String)> = Vec::new();
    for &f in r.kind.fields() {
        let value = if let Some(file) = r.drawn.get(&f) {
            format!(
                "<img class=\"by_img\" src=\"/report/img/{}\" width=\"402\" height=\"43\" />",
                escape(file)
            )
        } else if let Some(v) = r.fields.get(f) {
            let shown = match f.class() {
                crate::domain::fields::FieldClass::Date => chinese_date(v),
                _ if f == Field::duration => format!("{v} 年"),
                _ if f == Field::certificate_no => grouped(v),
                _ => v.to_string(),
            };
            format!("<span>{}</span>", escape(&shown))
        } else {
            continue;
        };
        let label = label(f, r.kind).replace('（', "(").replace('）', ")");
        cells.push((label, value));
    }
    let mut rows = String::new();
    for pair in cells.chunks(2) {
        rows.push_str("              <tr>\n");
        for (i, (label, value)) in pair.iter().enumerate() {
            let span = if pair.len() == 1 && i == 0 {
                " colspan=\"3\""
            } else {
                ""
            };
            rows.push_str(&format!(
                "                <th><div style=\"width:90px;\">{label}</div></th>\n                <td{span}>{value}</td>\n"
            ));
        }
        rows.push_str("              </tr>\n");
    }
    let updated = r
        .updated
        .as_deref()
        .map(chinese_date)
        .unwrap_or_else(|| "2025年01月01日".into());
    let vcode = escape(vcode);
    let head = token_head("kq3vZ8xR1mWqP0aY7tBfE2nLhC5sJdGu9oKiVw4rXzT6yNb");
    format!(
        r#"{head}<title>{heading}_中国高等教育学生信息网（学信网）</title>
<script r="m">(function(){{var _$kQ=23;/* 已过期 已关闭 无效 */window._$r=_$kQ;}})();</script>
</head>
<body>
<h1>{heading}</h1>
<div class="m_yah"><a href="/">首页</a> &gt; 学籍/学历在线验证报告 &gt; {heading}</div>
<div id="resultTable">
  <div class="tableTitle">
    {heading}
    <br>
    <div class="xlzms-tit"><span class='zbrq-title'>更新日期：{updated}</span></div>
  </div>
  <table width="628" border="0" align="center" cellpadding="0" cellspacing="0" class="cn_table">
{rows}              <tr>
                <th>在<br />线<br />验<br />证</th>
                <td colspan="3"><div class="vcode-block"><span class="cn_font2 vcode-detail">{vcode}</span><br><span class="vcode-title">在线验证码</span></div></td>
              </tr>
  </table>
</div>
<div class="footer">中国高等教育学生信息网（学信网）（本地演示环境）</div>
</body>
</html>
"#
    )
}
