"""Headless Chromium driven over the DevTools pipe.

`chromium --screenshot` cannot be used directly for these pages: the headless
window has a minimum layout width of 500 CSS px (phone pages are 360–430) and
its viewport height differs from --window-size, so the page would be laid out
at a size we did not ask for. Over the pipe we set the exact viewport and
device scale factor with Emulation.setDeviceMetricsOverride, measure the page
(field boxes and texts) in the same layout that is captured, and keep one
browser process for the whole run (renders stay sequential).
"""

import base64
import fcntl
import json
import os
import shutil
import subprocess
import tempfile

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    # Without these Chromium keeps trying to reach the network, which is closed here.
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
    # Same text rasterisation on every run and machine.
    "--font-render-hinting=none", "--disable-lcd-text", "--force-color-profile=srgb",
]

PROBE_JS = r"""
(() => {
  const box = el => { const r = el.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  const out = {width: document.documentElement.scrollWidth,
               height: document.documentElement.scrollHeight, fields: {}, labels: {}, keep: []};
  for (const el of document.querySelectorAll('[data-field]')) {
    const k = el.dataset.field;
    if (k in out.fields) throw new Error('field twice: ' + k);
    const cs = getComputedStyle(el);
    out.fields[k] = {text: el.innerText, box: box(el), font_px: parseFloat(cs.fontSize),
                     visible: cs.visibility !== 'hidden' && cs.display !== 'none' && parseFloat(cs.opacity) > 0.5,
                     family: cs.fontFamily};
  }
  for (const el of document.querySelectorAll('[data-label-for]')) out.labels[el.dataset.labelFor] = {text: el.innerText, box: box(el)};
  out.keep = [...document.querySelectorAll('[data-keep]')].map(box);
  out.images = [...document.querySelectorAll('[data-img]')].map(el => ({kind: el.dataset.img, seed: el.dataset.seed || '', color: el.dataset.color || '', box: box(el)}));
  return out;
})()
"""


class Chromium:
    def __init__(self, binary="chromium"):
        self.profile = tempfile.mkdtemp(prefix="gen-fixtures-chromium-")
        to_chrome_r, self._to_chrome_w = os.pipe()
        self._from_chrome_r, from_chrome_w = os.pipe()

        def wire_pipe():
            # DevTools pipe protocol: Chromium reads fd 3 and writes fd 4. Move
            # both ends out of the way first so neither dup2 clobbers the other.
            r = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)
            w = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)
            os.dup2(r, 3)
            os.dup2(w, 4)
            os.set_inheritable(3, True)
            os.set_inheritable(4, True)

        self.proc = subprocess.Popen(
            [binary, *FLAGS, "--remote-debugging-pipe", f"--user-data-dir={self.profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=wire_pipe, close_fds=False)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buf = b""
        self._next_id = 0
        self._events = []

    # -- protocol plumbing
    def _read_message(self):
        while b"\0" not in self._buf:
            chunk = os.read(self._from_chrome_r, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method, params=None, session=None):
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_chrome_w, json.dumps(msg).encode() + b"\0")
        while True:
            m = self._read_message()
            if m.get("id") == self._next_id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self._events.append(m)

    def wait_event(self, method, session):
        while True:
            for i, m in enumerate(self._events):
                if m.get("method") == method and m.get("sessionId") == session:
                    del self._events[i]
                    return m
            self._events.append(self._read_message())

    # -- rendering
    def render(self, html_path, width, dsf, min_height=0, fixed_height=None):
        """Load the page at `width` CSS px and device scale `dsf`.

        Returns (png_bytes, probe) where probe holds the page size and the
        boxes and texts of every [data-field] element, in CSS px, measured in
        the same layout that was captured.
        """
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        s = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        try:
            self.call("Page.enable", session=s)
            height = fixed_height or 100
            metrics = {"width": width, "height": height, "deviceScaleFactor": dsf, "mobile": False}
            self.call("Emulation.setDeviceMetricsOverride", metrics, session=s)
            self._events.clear()
            self.call("Page.navigate", {"url": "file://" + os.path.abspath(html_path)}, session=s)
            self.wait_event("Page.loadEventFired", s)
            self.call("Runtime.evaluate", {"expression": "document.fonts.ready.then(() => 1)",
                                           "awaitPromise": True}, session=s)
            probe = self._probe(s)
            if fixed_height is None:
                metrics["height"] = max(min_height, int(probe["height"]))
                self.call("Emulation.setDeviceMetricsOverride", metrics, session=s)
                probe = self._probe(s)
                if int(probe["height"]) != metrics["height"]:
                    raise RuntimeError(f"page height changed when resized: {probe['height']} vs {metrics['height']}")
            probe["viewport"] = [width, metrics["height"]]
            shot = self.call("Page.captureScreenshot", {"format": "png", "fromSurface": True}, session=s)
            return base64.b64decode(shot["data"]), probe
        finally:
            self.call("Target.closeTarget", {"targetId": target})

    def _probe(self, s):
        r = self.call("Runtime.evaluate", {"expression": PROBE_JS, "returnByValue": True}, session=s)
        if "exceptionDetails" in r:
            raise RuntimeError(f"probe failed: {r['exceptionDetails']}")
        return r["result"]["value"]

    def close(self):
        try:
            self.call("Browser.close")
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_chrome_w)
        os.close(self._from_chrome_r)
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
