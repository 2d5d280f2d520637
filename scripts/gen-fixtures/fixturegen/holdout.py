"""A second rendering family, kept apart from the fixtures the reader is tuned on.

The reader's thresholds and preprocessing were chosen by measuring on
fixtures/screenshots/; accuracy on those images says little about
screenshots drawn differently. This family changes what a tuned reader
could have learnt: other fonts (AR PL UMing and UKai, Droid Sans Fallback,
WenQuanYi Zen Hei Sharp), device scales 1-3, the screenshot shown in a
light, grey or dark image viewer, its own watermark, JPEG 55-85, crops,
rotation up to 1.2 degrees and noise, and seeds of its own (other people,
other codes). Nothing in the reader may be tuned on it: it is measured,
not fitted.
"""

from . import data, plan
from .data import rng_for

FAMILY = "holdout"
PER_LAYOUT = 10
FONTS = ["AR PL UMing CN", "AR PL UKai CN", "Droid Sans Fallback", "WenQuanYi Zen Hei Sharp"]
DEVICE_SCALES = [1.0, 1.25, 1.5, 2.0, 2.5, 3.0]

DEGRADE_SETS = {
    "report": [["viewer", "jpeg"], ["rotate", "noise", "jpeg"], ["watermark", "viewer", "jpeg"],
               ["crop", "scale", "jpeg"], ["watermark", "rotate", "noise", "scale", "jpeg"]],
    "degree": [["watermark", "jpeg"], ["viewer", "rotate", "jpeg"], ["crop", "noise", "jpeg"],
               ["scale", "viewer", "jpeg"], ["watermark", "crop", "rotate", "jpeg"]],
    "web": [["viewer", "jpeg"], ["watermark", "scale", "jpeg"], ["crop", "rotate", "jpeg"], ["noise", "jpeg"],
            ["viewer", "watermark", "rotate", "jpeg"]],
    "mobile": [["viewer", "jpeg"], ["dark-status-bar", "noise", "jpeg"], ["watermark", "scale", "jpeg"],
               ["dark-surround", "rotate", "jpeg"], ["crop-status-bar", "viewer", "noise", "jpeg"]],
}

# Image viewers the screenshot is shown in before it is captured again.
VIEWERS = [("light", (246, 246, 246), (225, 225, 225)), ("grey", (128, 130, 134), (96, 98, 102)),
           ("dark", (30, 30, 32), (52, 53, 56))]
WATERMARKS = ["仅供报名审核使用", "学信网 CHSI", "资格审核专用"]
JPEG_QUALITY = (55, 85)
MAX_ROTATION = 1.2


def fixtures():
    specs = []
    dip_i = deg_i = 0
    for li, layout in enumerate(["report", "degree", "web", "mobile"]):
        names = plan._deal(FAMILY + "-names-" + layout,
                           ["rare", "minority", "compound"] + ["common"] * (PER_LAYOUT - 3), PER_LAYOUT)
        flags = plan._deal(FAMILY + "-degraded-" + layout, [True, False], PER_LAYOUT)
        sets = iter(DEGRADE_SETS[layout])
        for i in range(PER_LAYOUT):
            name = f"{layout}-{i + 1:03d}"
            seed_name = f"{FAMILY}:{name}"
            if layout == "report":
                kind = "diploma"
            elif layout == "degree":
                kind = "degree"
            elif layout == "web":
                kind = "degree" if i % 4 == 1 else "diploma"
            else:
                kind = "degree" if i % 2 else "diploma"
            rrng = rng_for("record", seed_name)
            if kind == "diploma":
                rec = data.make_diploma(rrng, names[i], plan.DIPLOMA_TRACKS[(dip_i * 7 + 3) % len(plan.DIPLOMA_TRACKS)])
                dip_i += 1
            else:
                rec = data.make_degree(rrng, names[i], plan.DEGREE_LEVELS[(deg_i + 1) % len(plan.DEGREE_LEVELS)])
                deg_i += 1
            steps = next(sets) if flags[i] else []
            font = FONTS[(i + li) % len(FONTS)]
            vrng = rng_for("variant", seed_name)
            variant = plan.VARIANTS[layout](vrng, i, font, steps, rec)
            if layout != "mobile":
                # Any device scale the candidate's machine had (desktop pages
                # up to 2: wider captures are rare and only cost repository
                # space); downscaled uploads start from a sharp capture, and
                # no text may start below a legible size.
                top = 2.5 if layout in ("report", "degree") else 2.0
                scales = [s for s in DEVICE_SCALES if s <= top and s * variant["font_px"] >= 16
                          and ("scale" not in steps or s >= 2.0)]
                variant["dsf"] = vrng.choice(scales)
            specs.append({"name": name, "seed_name": seed_name, "family": FAMILY, "layout": layout, "kind": kind,
                          "record": rec, "name_kind": names[i], "variant": variant, "steps": steps, "font": font})
    return specs
