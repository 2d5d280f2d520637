//! The console's stylesheet and script, compiled into the binary: the
//! console works on a machine with no route to a CDN, and its pages load
//! nothing from anywhere else (see the Content-Security-Policy).

pub const CSS: &str = r#"
body { font: 14px/1.45 system-ui, "Noto Sans CJK SC", sans-serif; margin: 0; color: #1b1f24; }
header { background: #1f3a5f; color: #fff; padding: 8px 16px; display: flex; gap: 16px; align-items: center; }
header a, header .who { color: #fff; margin-right: 12px; }
nav { display: inline-flex; gap: 8px; align-items: center; }
main { padding: 16px; }
table { border-collapse: collapse; margin: 8px 0 16px; }
th, td { border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
tr.current { outline: 2px solid #0969da; }
.ok { color: #1a7f37; } .bad { color: #cf222e; font-weight: bold; } .slip { color: #9a6700; }
.inline { display: inline; }
.filters { border: 1px solid #d0d7de; padding: 8px; margin: 8px 0; }
.shot { max-width: 100%; overflow: auto; border: 1px solid #d0d7de; max-height: 80vh; }
.shot img { width: 100%; cursor: zoom-in; display: block; }
.shot.zoomed img { width: auto; max-width: none; cursor: zoom-out; }
.cols { display: flex; gap: 24px; flex-wrap: wrap; }
.cols > section { flex: 1 1 480px; min-width: 0; }
form.action { border: 1px solid #d0d7de; padding: 8px; margin: 8px 0; }
form.action label { display: block; margin-bottom: 4px; }
form.action select { max-width: 100%; }
textarea { width: 100%; min-height: 3em; }
.error { background: #ffebe9; border: 1px solid #cf222e; padding: 8px; }
.hint { color: #57606a; }
pre.page { white-space: pre-wrap; max-height: 20em; overflow: auto; background: #f6f8fa; }
kbd { border: 1px solid #999; border-radius: 3px; padding: 0 4px; }
"#;

/// Zoom on click, and the keys that take a reviewer through a queue:
/// `j`/`k` move, `Enter` opens; on a record `a` approves (once a note is
/// written), `r` goes to the rejection, `n` opens the next record in the
/// queue.
pub const JS: &str = r#"
document.addEventListener("DOMContentLoaded", function () {
  var shot = document.querySelector(".shot");
  if (shot) { shot.addEventListener("click", function () { shot.classList.toggle("zoomed"); }); }
  var rows = Array.prototype.slice.call(document.querySelectorAll("tr[data-href]"));
  var cur = 0;
  function mark() { rows.forEach(function (r, i) { r.classList.toggle("current", i === cur); }); }
  if (rows.length) { mark(); }
  document.addEventListener("keydown", function (e) {
    var t = e.target.tagName;
    if (t === "INPUT" || t === "TEXTAREA" || t === "SELECT" || e.ctrlKey || e.metaKey || e.altKey) { return; }
    if (rows.length) {
      if (e.key === "j") { cur = Math.min(cur + 1, rows.length - 1); mark(); }
      else if (e.key === "k") { cur = Math.max(cur - 1, 0); mark(); }
      else if (e.key === "Enter") { window.location = rows[cur].getAttribute("data-href"); }
      return;
    }
    var approve = document.getElementById("approve");
    if (e.key === "a" && approve) {
      var note = approve.querySelector("textarea");
      if (note.value.trim()) { approve.submit(); } else { note.focus(); }
      e.preventDefault();
    } else if (e.key === "r") {
      var reject = document.getElementById("reject");
      if (reject) { reject.querySelector("select").focus(); e.preventDefault(); }
    } else if (e.key === "n") {
      var next = document.getElementById("next");
      if (next) { window.location = next.getAttribute("href"); }
    }
  });
});
"#;
