#!/usr/bin/env python3
"""Validate the fixture set on disk, independently of the generator run.

    python3 check.py [--family own|holdout] [--dir DIR] [--registry FILE] [--ocr]

Checks the JSON contract, the structure of every number (ID check character,
certificate numbers against dates/levels, 在线验证码 alphabet), that each
fixture agrees with its registry entry, and the coverage the test set
promises (counts, degradations, rare and minority names). --ocr also runs
Tesseract (chi_sim, PSM 6) over each image and reports how many expected
values appear in its output: a rough legibility signal, not a pass/fail.
"""

import argparse
import collections
import datetime as dt
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fixturegen.contract import (LAYOUT_KEYS, degree_cert_ok, diploma_cert_ok, id_number_ok,  # noqa: E402
                                 record_problems, vcode_ok)
from fixturegen.data import COMPOUND_SURNAMES, DEGREE_KEYS, DIPLOMA_KEYS, mask_id  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
NAME_RE = re.compile(r"^(report|degree|web|mobile)-(\d{3})$")
RARE_CHARS = set("昇堃玥喆垚赟燚䶮")
META_KEYS = {"id_number", "vcode", "font", "degradations", "variant"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--family", choices=["own", "holdout"], default="own")
    ap.add_argument("--dir")
    ap.add_argument("--registry")
    ap.add_argument("--ocr", action="store_true")
    args = ap.parse_args()
    suffix = "" if args.family == "own" else "-" + args.family
    args.dir = args.dir or os.path.join(REPO, "fixtures", "screenshots" + suffix)
    args.registry = args.registry or os.path.join(REPO, "fixtures", "sandbox", f"screenshots{suffix}-registry.json")
    # The coverage each family promises: the holdout family is smaller.
    per_layout, total, rare, minority = (18, 72, 10, 6) if args.family == "own" else (10, 40, 4, 4)

    errors = []

    def err(name, msg):
        errors.append(f"{name}: {msg}")

    files = sorted(os.listdir(args.dir))
    stems = collections.defaultdict(list)
    for f in files:
        stem, ext = os.path.splitext(f)
        if NAME_RE.match(stem):
            stems[stem].append(ext)
    with open(args.registry, encoding="utf-8") as fh:
        registry = json.load(fh)["reports"]
    by_fixture = {}
    for e in registry:
        if e["fixture"] in by_fixture:
            err(e["fixture"], "twice in the registry")
        by_fixture[e["fixture"]] = e

    stats = collections.Counter()
    fonts = collections.Counter()
    steps = collections.Counter()
    total_bytes = 0
    ocr_rows = []
    for stem in sorted(stems):
        exts = sorted(stems[stem])
        images = [x for x in exts if x in (".png", ".jpg")]
        if ".json" not in exts or len(images) != 1:
            err(stem, f"needs one image and one JSON, has {exts}")
            continue
        image = os.path.join(args.dir, stem + images[0])
        total_bytes += os.path.getsize(image) + os.path.getsize(os.path.join(args.dir, stem + ".json"))
        with open(image, "rb") as fh:
            magic = fh.read(4)
        if (images[0] == ".png") != (magic == b"\x89PNG") or (images[0] == ".jpg") != magic.startswith(b"\xff\xd8"):
            err(stem, "image content does not match its extension")
        with open(os.path.join(args.dir, stem + ".json"), encoding="utf-8") as fh:
            j = json.load(fh)
        layout = NAME_RE.match(stem)[1]
        if j.get("layout") != layout:
            err(stem, f"layout {j.get('layout')!r} does not match the name")
        kind = j.get("kind")
        allowed = LAYOUT_KEYS.get((layout, kind))
        if allowed is None:
            err(stem, f"kind {kind!r} not valid for {layout}")
            continue
        meta = j.get("meta", {})
        if set(meta) != META_KEYS:
            err(stem, f"meta keys {sorted(meta)}")
        fields = {k: v for k, v in j.items() if k not in ("layout", "kind", "meta")}
        extra = set(fields) - allowed
        if extra:
            err(stem, f"keys not shown on a {layout} page: {sorted(extra)}")
        for k, v in fields.items():
            if not isinstance(v, str) or not v or re.search(r"\s", v):
                err(stem, f"{k}: not a normalised string: {v!r}")
            if k.endswith("_date"):
                try:
                    dt.date.fromisoformat(v)
                except ValueError:
                    err(stem, f"{k}: not ISO: {v!r}")
            if k == "name" and re.search(r"[.・•‧,:]", v):
                err(stem, f"name uses a dot other than U+00B7: {v!r}")
        if "duration" in fields and not re.fullmatch(r"\d+(\.\d+)?", fields["duration"]):
            err(stem, f"duration {fields['duration']!r}")

        idn = meta.get("id_number", "")
        p = id_number_ok(idn, fields.get("birth_date") or by_fixture.get(stem, {}).get("fields", {}).get("birth_date", ""),
                         fields.get("gender") or by_fixture.get(stem, {}).get("fields", {}).get("gender", ""))
        if p:
            err(stem, f"meta.id_number {idn}: {p}")
        if "id_number_masked" in fields and fields["id_number_masked"] != mask_id(idn):
            err(stem, "id_number_masked does not mask meta.id_number")
        p = vcode_ok(meta.get("vcode", ""))
        if p:
            err(stem, f"meta.vcode: {p}")
        if "vcode" in fields and fields["vcode"] != meta.get("vcode"):
            err(stem, "vcode differs from meta.vcode")

        e = by_fixture.get(stem)
        if e is None:
            err(stem, "no registry entry")
            continue
        if e["vcode"] != meta.get("vcode") or e["kind"] != kind or e["state"] != "ok":
            err(stem, "registry entry vcode/kind/state mismatch")
        want = DIPLOMA_KEYS if kind == "diploma" else DEGREE_KEYS
        if list(e["fields"]) != want:
            err(stem, f"registry fields {list(e['fields'])}")
            continue
        for k, v in fields.items():
            if k in ("vcode", "id_number_masked"):
                continue
            if e["fields"][k] != v:
                err(stem, f"{k}: fixture {v!r} vs registry {e['fields'][k]!r}")
        for p in record_problems(kind, e["fields"]):
            err(stem, "registry record: " + p)
        cert_p = diploma_cert_ok(e["fields"]) if kind == "diploma" else degree_cert_ok(e["fields"])
        if cert_p:
            err(stem, "certificate_no: " + cert_p)
        p = id_number_ok(idn, e["fields"]["birth_date"], e["fields"]["gender"])
        if p:
            err(stem, f"id number vs registry: {p}")
        finished = e["fields"]["graduation_date" if kind == "diploma" else "degree_date"]
        if not finished < e["updated"]:
            err(stem, "report updated before the credential was awarded")

        name = e["fields"]["name"]
        stats[f"{layout}:total"] += 1
        stats[f"{layout}:degraded" if meta["degradations"] else f"{layout}:clean"] += 1
        stats["rare"] += bool(RARE_CHARS & set(name))
        stats["minority"] += "·" in name
        stats["compound"] += any(name.startswith(c) for c in COMPOUND_SURNAMES)
        stats["grouped_vcode"] += "vcode=grouped4" in meta["variant"]
        stats["iso_dates"] += "dates=iso" in meta["variant"]
        stats["ideo_labels"] += "labels=ideo" in meta["variant"]
        fonts[meta["font"]] += 1
        for s in meta["degradations"]:
            steps[s.split(":")[0]] += 1
        if args.ocr:
            ocr_rows.append((stem, ocr_hits(image, fields)))

    vcodes = [e["vcode"] for e in registry]
    if len(set(vcodes)) != len(vcodes):
        errors.append("registry: duplicate vcodes")
    certs = [e["fields"]["certificate_no"] for e in registry]
    if len(set(certs)) != len(certs):
        errors.append("registry: duplicate certificate numbers")
    for stem in by_fixture:
        if stem not in stems:
            errors.append(f"{stem}: in the registry but not on disk")

    layouts = ["report", "degree", "web", "mobile"]
    for lay in layouts:
        if stats[f"{lay}:total"] < per_layout:
            errors.append(f"{lay}: only {stats[f'{lay}:total']} fixtures")
    if sum(stats[f"{lay}:total"] for lay in layouts) < total:
        errors.append(f"fewer than {total} fixtures")
    if stats["rare"] < rare:
        errors.append(f"only {stats['rare']} fixtures with rare characters in the name")
    if stats["minority"] < minority:
        errors.append(f"only {stats['minority']} fixtures with a middle-dot name")

    print("fixtures:", ", ".join(f"{lay} {stats[lay + ':total']} ({stats[lay + ':clean']} clean / "
                                 f"{stats[lay + ':degraded']} degraded)" for lay in layouts))
    print(f"names: {stats['rare']} with rare characters, {stats['minority']} with a middle dot, "
          f"{stats['compound']} with a compound surname")
    print(f"looks: {stats['ideo_labels']} ideographic-space labels, {stats['grouped_vcode']} grouped codes, "
          f"{stats['iso_dates']} ISO-date pages")
    print("fonts:", dict(fonts))
    print("degradations:", dict(steps))
    print(f"size: {total_bytes / 1e6:.1f} MB")
    if total_bytes > 15e6:
        print("warning: over the 15 MB budget")
    if ocr_rows:
        hit = sum(h for _, (h, n, _m) in ocr_rows)
        tot = sum(n for _, (h, n, _m) in ocr_rows)
        print(f"tesseract found {hit}/{tot} expected values verbatim")
        for stem, (h, n, missed) in ocr_rows:
            if missed:
                print(f"  {stem}: {h}/{n}, missed {missed}")
    if errors:
        print(f"\n{len(errors)} problems:", file=sys.stderr)
        for e in errors:
            print("  " + e, file=sys.stderr)
        return 1
    print("ok")
    return 0


def ocr_hits(image, fields):
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    out = subprocess.run(["tesseract", image, "-", "-l", "chi_sim", "--psm", "6"], capture_output=True,
                         text=True, env=env).stdout
    flat = re.sub(r"\s+", "", out)
    flat_dates = flat.replace("年", "-").replace("月", "-").replace("日", "")
    missed = []
    for k, v in fields.items():
        probe = v.replace("-", "") if k.endswith("_date") else v
        if k.endswith("_date"):
            found = v in flat_dates or probe in re.sub(r"\D", "", flat)
        else:
            found = v in flat
        if not found:
            missed.append(k)
    return len(fields) - len(missed), len(fields), missed


if __name__ == "__main__":
    sys.exit(main())
