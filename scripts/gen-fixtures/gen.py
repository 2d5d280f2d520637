#!/usr/bin/env python3
"""Generate the screenshot fixtures and the sandbox registry.

    python3 gen.py [--family own|holdout] [--out DIR] [--registry FILE] [--only NAME ...] [--keep-html DIR]

Deterministic: every choice comes from seeds derived from the fixture name.
The expected JSON of a fixture is not written by hand: it is read back from
the rendered page (the text of each [data-field] element, normalised), and
the run fails if that differs from the record the page was filled from, if a
field box left the image, or if a field became too small to read.
"""

import argparse
import io
import json
import os
import re
import sys
import tempfile

from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fixturegen import degrade, holdout, plan, slots, templates  # noqa: E402
from fixturegen.chrome import Chromium  # noqa: E402
from fixturegen.contract import KEY_ORDER, LAYOUT_KEYS, normalize, record_problems  # noqa: E402
from fixturegen.data import DEGREE_KEYS, DIPLOMA_KEYS, mask_id, rng_for, seed_of  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
FIXTURE_RE = re.compile(r"^(report|degree|web|mobile)-\d{3}\.(png|jpg|json)$")
# Smallest glyph (em box, image pixels) a field may end up with: still easy
# for a person to read, and about where Tesseract starts to struggle.
MIN_GLYPH_PX = 15


class FixtureError(Exception):
    pass


def build_html(spec):
    v, rec = spec["variant"], spec["record"]
    if spec["layout"] in ("report", "degree"):
        body, css = templates.report_doc(rec, v)
    elif spec["layout"] == "web":
        body, css = templates.web_doc(rec, v)
    else:
        body, css = templates.mobile_doc(rec, v)
    return templates.page(body, css, v["font"])


def truth(spec, key):
    rec = spec["record"]
    if key == "vcode":
        return rec["vcode"]
    if key == "id_number_masked":
        return mask_id(rec["id_number"])
    return rec["fields"][key]


def expected_fields(spec, probe):
    """Canonical values read from the drawn page, cross-checked with the record."""
    out = {}
    for key, f in probe["fields"].items():
        if not f["visible"]:
            raise FixtureError(f"{key} is hidden")
        got = normalize(key, f["text"])
        want = truth(spec, key)
        if got != want:
            raise FixtureError(f"{key}: page shows {f['text']!r} -> {got!r}, record has {want!r}")
        out[key] = got
    allowed = LAYOUT_KEYS[(spec["layout"], spec["kind"])]
    if set(out) - allowed:
        raise FixtureError(f"unexpected keys {set(out) - allowed}")
    omitted = {k.lstrip("*") for k in spec["variant"].get("omit", [])}
    missing = allowed - set(out) - omitted
    if missing:
        raise FixtureError(f"fields not drawn: {missing}")
    return out


def check_layout(spec, probe):
    vw = probe["viewport"][0]
    if probe["width"] > vw:
        raise FixtureError(f"page overflows horizontally: {probe['width']} > {vw}")
    for key, f in probe["fields"].items():
        x0, y0, x1, y1 = f["box"]
        if x1 - x0 < 4 or y1 - y0 < 4 or x0 < 0 or x1 > vw:
            raise FixtureError(f"{key}: box {f['box']} outside the page")
        lab = probe["labels"].get(key)
        if lab is None:
            raise FixtureError(f"{key}: no label drawn")
        lx0, ly0, lx1, ly1 = lab["box"]
        # 1 px of slack: adjacent inline boxes share an edge up to rounding.
        if not (lx1 <= x0 + 1 or x1 <= lx0 + 1 or ly1 <= y0 + 1 or y1 <= ly0 + 1):
            raise FixtureError(f"{key}: value overlaps its label")


def seed_name(spec):
    """What a fixture's seeds derive from: its name, prefixed by its family
    when it is not the first, so the families share no random choices."""
    return spec.get("seed_name", spec["name"])


def degrade_shot(spec, png, probe):
    v, steps = spec["variant"], spec["steps"]
    sname = seed_name(spec)
    held_out = spec.get("family") == holdout.FAMILY
    dsf = v["dsf"]
    boxes = {}
    for key, f in probe["fields"].items():
        boxes[key] = [c * dsf for c in f["box"]]
    for key, lab in probe["labels"].items():
        boxes["label:" + key] = [c * dsf for c in lab["box"]]
    for n, box in enumerate(probe["keep"]):
        # Titles, tabs, the photo and the footer: what makes the page
        # recognisable. Crops trim the border, never these.
        boxes[f"keep:{n}"] = [c * dsf for c in box]
    font_px = {k: f["font_px"] * dsf for k, f in probe["fields"].items()}
    shot = degrade.Shot(slots.draw(Image.open(io.BytesIO(png)), probe["images"], dsf), boxes, font_px)
    if v.get("watermark"):
        wr = rng_for("watermark", sname)
        if held_out:
            degrade.watermark(shot, wr.choice(holdout.WATERMARKS),
                              wr.choice([(150, 60, 60, 40), (70, 70, 70, 36), (40, 110, 160, 44)]),
                              round(wr.choice([16, 20, 30]) * dsf), round(wr.choice([20, 30, 48]) * dsf),
                              wr.choice([-30, -20, 15, 40]), font=wr.choice(holdout.FONTS))
        else:
            degrade.watermark(shot, "CHSI 学信网", wr.choice([(90, 90, 90, 44), (60, 90, 140, 40), (120, 120, 120, 52)]),
                              round(wr.choice([18, 22, 26]) * dsf), round(wr.choice([26, 34, 42]) * dsf),
                              wr.choice([25, 30, 35]))
    if "dark-status-bar" in steps:
        shot.steps.append("dark-status-bar")
    r = rng_for("degrade", sname)
    layout = spec["layout"]
    if "crop-status-bar" in steps:
        degrade.crop_top(shot, round(v["sb_h"] * dsf), "crop-status-bar")
    if "crop" in steps:
        sides = {"report": "ltrb", "degree": "ltrb", "web": r.choice(["lr", "ltr", "ltrb"]),
                 "mobile": "tb"}[layout]
        degrade.crop(shot, r, sides)
    ground = None
    if "dark-surround" in steps:
        ground = degrade.dark_surround(shot, r)
    if "viewer" in steps:
        ground = degrade.viewer(shot, r, r.choice(holdout.VIEWERS))
    if "rotate" in steps:
        # A tilted phone photo or a skewed scan: the whole frame turns, the
        # exposed corners take the colour of what lies around it.
        angle = r.choice([-1, 1]) * (r.uniform(0.3, holdout.MAX_ROTATION) if held_out else r.uniform(0.4, 1.5))
        fill = ground or (r.choice([(236, 236, 236), (250, 250, 250), (226, 228, 230)]) if layout != "mobile"
                          else (24, 24, 26))
        degrade.rotate(shot, round(angle, 2), fill)
    if "scale" in steps:
        smallest = min(shot.font_px.values())
        lo = max(0.5, (MIN_GLYPH_PX + 1) / smallest)
        if layout == "mobile":
            # Messaging apps shrink phone screenshots, but not below ~540 px wide.
            lo = max(lo, 540 / shot.img.size[0])
        if lo <= 0.75:
            degrade.scale(shot, round(r.uniform(lo, 0.75), 2))
        elif lo <= 0.9:
            # The capture is already small: shrink only as far as it stays readable.
            degrade.scale(shot, round(lo + 0.01, 2))
    if "noise" in steps:
        degrade.noise(shot, r.choice([3, 4, 6] if held_out else [4, 5, 6, 8]), seed_of("noise", sname))
    fmt, quality = "png", None
    if "jpeg" in steps:
        lo, hi = holdout.JPEG_QUALITY if held_out else (40, 80)
        fmt, quality = "jpg", r.randrange(lo, hi + 1)
        shot.steps.append(f"jpeg:q{quality}")
    return shot, fmt, quality


def check_shot(shot):
    w, h = shot.img.size
    for k, (x0, y0, x1, y1) in shot.boxes.items():
        if x0 < 0 or y0 < 0 or x1 > w or y1 > h:
            raise FixtureError(f"{k} cut off by degradation: {[round(c) for c in (x0, y0, x1, y1)]} in {w}x{h}")
    for k, px in shot.font_px.items():
        if px < MIN_GLYPH_PX:
            raise FixtureError(f"{k} too small to read: {px:.1f}px")


def registry_entry(spec):
    rec = spec["record"]
    keys = DIPLOMA_KEYS if rec["kind"] == "diploma" else DEGREE_KEYS
    return {"vcode": rec["vcode"], "state": "ok", "kind": rec["kind"],
            "fields": {k: rec["fields"][k] for k in keys}, "updated": rec["updated"], "fixture": spec["name"]}


def fixture_json(spec, fields, shot):
    out = {"layout": spec["layout"], "kind": spec["kind"]}
    for k in KEY_ORDER:
        if k in fields:
            out[k] = fields[k]
    out["meta"] = {
        "id_number": spec["record"]["id_number"],
        "vcode": spec["record"]["vcode"],
        "font": spec["font"],
        "degradations": shot.steps,
        "variant": plan.describe(spec["variant"], spec["kind"]) + f"; names={spec['name_kind']}",
    }
    return json.dumps(out, ensure_ascii=False, indent=1) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--family", choices=["own", holdout.FAMILY], default="own",
                    help="own: the fixtures the reader is tuned on; holdout: the second family, only measured")
    ap.add_argument("--out")
    ap.add_argument("--registry")
    ap.add_argument("--only", nargs="*", help="render only these fixtures (registry is not rewritten)")
    ap.add_argument("--keep-html", help="also write each page's HTML here")
    args = ap.parse_args()

    suffix = "" if args.family == "own" else "-" + holdout.FAMILY
    args.out = args.out or os.path.join(REPO, "fixtures", "screenshots" + suffix)
    args.registry = args.registry or os.path.join(REPO, "fixtures", "sandbox", f"screenshots{suffix}-registry.json")
    specs = plan.fixtures() if args.family == "own" else holdout.fixtures()
    for s in specs:
        probs = record_problems(s["kind"], s["record"]["fields"])
        if probs:
            raise SystemExit(f"{s['name']}: bad record: {probs}")
    todo = [s for s in specs if not args.only or s["name"] in args.only]
    os.makedirs(args.out, exist_ok=True)
    if not args.only:
        for f in os.listdir(args.out):
            if FIXTURE_RE.match(f):
                os.remove(os.path.join(args.out, f))

    failures = []
    with tempfile.TemporaryDirectory(prefix="gen-fixtures-") as tmp, Chromium() as chrome:
        for n, spec in enumerate(todo, 1):
            name, v = spec["name"], spec["variant"]
            html_path = os.path.join(tmp, name + ".html")
            with open(html_path, "w", encoding="utf-8") as fh:
                fh.write(build_html(spec))
            if args.keep_html:
                os.makedirs(args.keep_html, exist_ok=True)
                with open(os.path.join(args.keep_html, name + ".html"), "w", encoding="utf-8") as fh:
                    fh.write(build_html(spec))
            try:
                png, probe = chrome.render(html_path, v["width"], v["dsf"], min_height=v.get("screen_h", 0))
                fields = expected_fields(spec, probe)
                check_layout(spec, probe)
                shot, fmt, quality = degrade_shot(spec, png, probe)
                check_shot(shot)
            except FixtureError as e:
                failures.append(f"{name}: {e}")
                print(f"[{n}/{len(todo)}] {name}: FAILED {e}", flush=True)
                continue
            for ext in ("png", "jpg"):
                stale = os.path.join(args.out, f"{name}.{ext}")
                if os.path.exists(stale):
                    os.remove(stale)
            with open(os.path.join(args.out, f"{name}.{fmt}"), "wb") as fh:
                fh.write(degrade.encode(shot.img, fmt, quality))
            with open(os.path.join(args.out, f"{name}.json"), "w", encoding="utf-8") as fh:
                fh.write(fixture_json(spec, fields, shot))
            print(f"[{n}/{len(todo)}] {name}: {shot.img.size[0]}x{shot.img.size[1]} {fmt} "
                  f"{', '.join(shot.steps) or 'clean'}", flush=True)

    if failures:
        print("\n".join(["", "failed:"] + failures), file=sys.stderr)
        return 1
    if not args.only:
        os.makedirs(os.path.dirname(args.registry), exist_ok=True)
        reg = {"reports": [registry_entry(s) for s in specs]}
        with open(args.registry, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(reg, ensure_ascii=False, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
