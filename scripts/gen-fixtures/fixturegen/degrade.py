"""Image degradations that keep track of where the fields went.

Each step moves the field boxes along with the pixels, so the generator can
prove afterwards that no field was cropped away or shrunk below a legible
size.
"""

import io
import math
import subprocess

import numpy as np
from PIL import Image, ImageDraw, ImageFont


class Shot:
    def __init__(self, img, boxes, font_px):
        self.img = img.convert("RGB")
        self.boxes = dict(boxes)      # name -> [x0, y0, x1, y1] in image pixels
        self.font_px = dict(font_px)  # field -> glyph size in image pixels
        self.steps = []

    def _map(self, fn):
        self.boxes = {k: fn(b) for k, b in self.boxes.items()}

    def union(self):
        bs = list(self.boxes.values())
        return (min(b[0] for b in bs), min(b[1] for b in bs), max(b[2] for b in bs), max(b[3] for b in bs))


def _font(family, size):
    spec = subprocess.run(["fc-match", "-f", "%{file}\n%{index}", f"{family}:style=Regular"],
                          capture_output=True, text=True, check=True).stdout.split("\n")
    return ImageFont.truetype(spec[0], size, index=int(spec[1] or 0))


def watermark(shot, text, rgba, size_px, gap_px, angle, font="Noto Sans CJK SC"):
    """Diagonal tiled text over everything, as sites and apps stamp screenshots."""
    w, h = shot.img.size
    side = int(math.hypot(w, h)) + 2 * size_px
    layer = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    font = _font(font, size_px)
    tw = d.textlength(text, font=font)
    step_x, step_y = tw + gap_px * 1.6, size_px + gap_px
    for row, y in enumerate(range(0, side, round(step_y))):
        offset = (step_x / 2) * (row % 2)
        x = -offset
        while x < side:
            d.text((x, y), text, font=font, fill=rgba)
            x += step_x
    layer = layer.rotate(angle, resample=Image.BICUBIC)
    left, top = (side - w) // 2, (side - h) // 2
    layer = layer.crop((left, top, left + w, top + h))
    base = shot.img.convert("RGBA")
    base.alpha_composite(layer)
    shot.img = base.convert("RGB")
    shot.steps.append(f"watermark:{text}")


def crop(shot, rng, sides="ltrb", lo=0.25, hi=0.85, safety=8):
    """Cut into the border on the given sides, never into the fields."""
    w, h = shot.img.size
    ux0, uy0, ux1, uy1 = shot.union()
    room = {"l": ux0 - safety, "t": uy0 - safety, "r": w - ux1 - safety, "b": h - uy1 - safety}
    cut = {s: int(max(0, room[s]) * rng.uniform(lo, hi)) if s in sides else 0 for s in "ltrb"}
    shot.img = shot.img.crop((cut["l"], cut["t"], w - cut["r"], h - cut["b"]))
    shot._map(lambda b: [b[0] - cut["l"], b[1] - cut["t"], b[2] - cut["l"], b[3] - cut["t"]])
    shot.steps.append(f"crop:l{cut['l']},t{cut['t']},r{cut['r']},b{cut['b']}")


def crop_top(shot, px, label):
    w, h = shot.img.size
    shot.img = shot.img.crop((0, px, w, h))
    shot._map(lambda b: [b[0], b[1] - px, b[2], b[3] - px])
    shot.steps.append(f"{label}:{px}")


def rotate(shot, angle, fill):
    w, h = shot.img.size
    shot.img = shot.img.rotate(angle, resample=Image.BICUBIC, expand=True, fillcolor=fill)
    w2, h2 = shot.img.size
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))

    def tr(x, y):
        dx, dy = x - w / 2, y - h / 2
        return dx * c + dy * s + w2 / 2, -dx * s + dy * c + h2 / 2

    def move(b):
        pts = [tr(b[0], b[1]), tr(b[2], b[1]), tr(b[0], b[3]), tr(b[2], b[3])]
        return [min(p[0] for p in pts), min(p[1] for p in pts), max(p[0] for p in pts), max(p[1] for p in pts)]

    shot._map(move)
    shot.steps.append(f"rotate:{angle:+.2f}")


def scale(shot, factor):
    w, h = shot.img.size
    nw, nh = round(w * factor), round(h * factor)
    shot.img = shot.img.resize((nw, nh), Image.LANCZOS)
    fx, fy = nw / w, nh / h
    shot._map(lambda b: [b[0] * fx, b[1] * fy, b[2] * fx, b[3] * fy])
    shot.font_px = {k: v * fy for k, v in shot.font_px.items()}
    shot.steps.append(f"scale:{factor:.2f}")


def dark_surround(shot, rng):
    """The phone photographed or mirrored: the screen sits in a dark bezel on a dark ground."""
    w, h = shot.img.size
    bezel = round(w * rng.uniform(0.025, 0.04))
    margin_x = round(w * rng.uniform(0.05, 0.10))
    margin_y = round(h * rng.uniform(0.03, 0.06))
    ground = tuple(rng.randrange(10, 34) for _ in range(3))
    radius = round(w * 0.07)
    W, H = w + 2 * (bezel + margin_x), h + 2 * (bezel + margin_y)
    canvas = Image.new("RGB", (W, H), ground)
    d = ImageDraw.Draw(canvas)
    d.rounded_rectangle([margin_x, margin_y, W - margin_x - 1, H - margin_y - 1],
                        radius=radius + bezel, fill=(6, 6, 8), outline=(70, 70, 76), width=2)
    mask = Image.new("L", (w, h), 0)
    ImageDraw.Draw(mask).rounded_rectangle([0, 0, w - 1, h - 1], radius=radius, fill=255)
    ox, oy = margin_x + bezel, margin_y + bezel
    canvas.paste(shot.img, (ox, oy), mask)
    shot.img = canvas
    shot._map(lambda b: [b[0] + ox, b[1] + oy, b[2] + ox, b[3] + oy])
    shot.steps.append("dark-surround")
    return ground


def viewer(shot, rng, look):
    """The screenshot opened in an image viewer and captured again: the
    viewer's background around it and its toolbar above. Returns the
    background, which a later rotation fills its corners with."""
    name, ground, bar = look
    w, h = shot.img.size
    mx, my = round(w * rng.uniform(0.03, 0.10)), round(h * rng.uniform(0.02, 0.06))
    bar_h = max(24, round(h * 0.035))
    canvas = Image.new("RGB", (w + 2 * mx, h + 2 * my + bar_h), ground)
    d = ImageDraw.Draw(canvas)
    d.rectangle([0, 0, canvas.size[0], bar_h], fill=bar)
    for n in range(4):
        # Toolbar buttons: blocks, not text, so they add no words to the page.
        x = round(bar_h * (0.6 + 1.3 * n))
        d.rounded_rectangle([x, bar_h // 4, x + bar_h // 2, bar_h - bar_h // 4], radius=3,
                            fill=tuple(min(255, c + 60) for c in bar))
    ox, oy = mx, my + bar_h
    canvas.paste(shot.img, (ox, oy))
    shot.img = canvas
    shot._map(lambda b: [b[0] + ox, b[1] + oy, b[2] + ox, b[3] + oy])
    shot.steps.append(f"viewer:{name}")
    return ground


def noise(shot, sigma, seed):
    arr = np.asarray(shot.img, dtype=np.float32)
    gen = np.random.Generator(np.random.PCG64(seed))
    arr = arr + gen.normal(0.0, sigma, size=arr.shape[:2])[..., None]
    shot.img = Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "RGB")
    shot.steps.append(f"noise:sigma{sigma:g}")


def encode(img, fmt, quality=None):
    buf = io.BytesIO()
    if fmt == "png":
        img.save(buf, "PNG", optimize=True)
    else:
        img.save(buf, "JPEG", quality=quality, optimize=True, subsampling=2)
    return buf.getvalue()
