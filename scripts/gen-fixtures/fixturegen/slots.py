"""Pillow drawings for the [data-img] boxes the pages leave empty.

Chromium's anti-aliasing of SVG curves and of fractional-pixel edges varies
a little between runs; drawing these few graphics here, supersampled and
then reduced, keeps every fixture byte-identical from run to run.
"""

from PIL import Image, ImageDraw

from .templates import qr_matrix

SUPER = 4


def _hex(c):
    c = c.lstrip("#")
    return tuple(int(c[i:i + 2], 16) for i in (0, 2, 4))


def _device_box(box, dsf):
    x0, y0, x1, y1 = (round(c * dsf) for c in box)
    return x0, y0, max(x0 + 1, x1), max(y0 + 1, y1)


def _photo(w, h):
    big = Image.new("RGB", (w * SUPER, h * SUPER), (200, 200, 200))
    d = ImageDraw.Draw(big)
    W, H = big.size
    fg = (169, 169, 169)
    d.ellipse([W * 0.29, H * 0.155, W * 0.71, H * 0.54], fill=fg)
    d.ellipse([W * 0.08, H * 0.64, W * 0.92, H * 1.3], fill=fg)
    d.rectangle([0, 0, W - 1, H - 1], outline=(153, 153, 153), width=SUPER)
    return big.resize((w, h), Image.LANCZOS)


def _qr(seed, w, h):
    cells = qr_matrix(seed)
    n = len(cells)
    quiet = 2
    img = Image.new("RGB", (w, h), (255, 255, 255))
    d = ImageDraw.Draw(img)
    unit_x, unit_y = w / (n + 2 * quiet), h / (n + 2 * quiet)
    for r in range(n):
        for c in range(n):
            if cells[r][c]:
                x0, y0 = round((c + quiet) * unit_x), round((r + quiet) * unit_y)
                x1, y1 = round((c + quiet + 1) * unit_x), round((r + quiet + 1) * unit_y)
                d.rectangle([x0, y0, x1 - 1, y1 - 1], fill=(17, 17, 17))
    return img


def _status(color, battery, w, h, bg):
    """Signal bars, Wi-Fi fan and battery, in a 70x14 design grid."""
    big = Image.new("RGB", (w * SUPER, h * SUPER), bg)
    d = ImageDraw.Draw(big)
    sx, sy = big.size[0] / 70, big.size[1] / 14
    fg = _hex(color)

    def R(x0, y0, x1, y1):
        return [x0 * sx, y0 * sy, x1 * sx, y1 * sy]

    for i, top in enumerate([9, 6, 3, 0]):
        d.rectangle(R(i * 5, top, i * 5 + 3, 13), fill=fg)
    for k, (rad, wd) in enumerate([(9, 2.0), (5.5, 2.0)]):
        d.arc(R(32 - rad, 12 - rad, 32 + rad, 12 + rad), 225, 315, fill=fg, width=round(wd * sx))
    d.pieslice(R(29.5, 9.5, 34.5, 14.5), 225, 315, fill=fg)
    d.rounded_rectangle(R(46, 1, 66, 12), radius=3 * sx, outline=fg, width=round(1.3 * sx))
    d.rounded_rectangle(R(48, 3, 48 + int(battery), 10), radius=1.5 * sx, fill=fg)
    d.rounded_rectangle(R(67, 4.5, 68.8, 8.5), radius=0.8 * sx, fill=fg)
    return big.resize((w, h), Image.LANCZOS)


def draw(img, images, dsf):
    """Fill every [data-img] box of the probe in the captured image."""
    img = img.convert("RGB")
    for it in images:
        x0, y0, x1, y1 = _device_box(it["box"], dsf)
        w, h = x1 - x0, y1 - y0
        if it["kind"] == "photo":
            tile = _photo(w, h)
        elif it["kind"] == "qr":
            tile = _qr(it["seed"], w, h)
        elif it["kind"] == "status":
            bg = img.getpixel((max(0, x0 - 2), y0 + h // 2))
            tile = _status(it["color"], it["seed"], w, h, bg)
        else:
            raise ValueError(f"unknown slot {it['kind']}")
        img.paste(tile, (x0, y0))
    return img
