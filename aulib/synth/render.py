"""The SynthAU renderer: a posed, projected face model drawn as a schematic face with OpenCV.

Owns :func:`draw` (projected points + identity + AU intensities + capture -> RGB image) and
:func:`render_face` (the public one-call API). Everything is drawn with OpenCV's
antialiased, sub-pixel (``shift``) polygons and lines on an RGB ``uint8`` canvas: background,
hair, neck and clothes, ears, skin, the FACS appearance cues of the active AUs (forehead
wrinkles for AU1/AU2, glabella lines for AU4, crow's feet and cheek bulge for AU6, nose
wrinkles for AU9, nasolabial folds for AU9/10/12, dimples for AU14, chin-boss wrinkles for
AU17...), eyes clipped by their lids, brows, nose, lips, mouth cavity and teeth, beard,
then a Lambertian shading of the head, glasses, occluders and the capture's degradations
(colour cast, vignette, blur, noise; JPEG is applied when the image is encoded).

Images are RGB in memory; the writers convert to BGR only when encoding with OpenCV.
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from . import face_model as fm
from .catalogue import AUS, check_aus
from .domains import Capture, get_domain, sample_capture
from .identity import Identity, make_identity

SH = 4                  # sub-pixel bits for OpenCV drawing
ONE = float(1 << SH)
E = fm.EXTRA
_AI = {a: i for i, a in enumerate(AUS)}
_WHITE = np.array([255.0, 255.0, 255.0])


def _ip(p):
    return np.rint(np.asarray(p) * ONE).astype(np.int32).reshape(-1, 1, 2)


def _col(c):
    return (float(c[0]), float(c[1]), float(c[2]))


def _lerp(a, b, t):
    t = 0.0 if t < 0.0 else (1.0 if t > 1.0 else float(t))
    return a + (b - a) * t


def _poly(img, pts, col):
    cv2.fillPoly(img, [_ip(pts)], _col(col), cv2.LINE_AA, SH)


def _line(img, pts, col, th=1, closed=False):
    cv2.polylines(img, [_ip(pts)], closed, _col(col), max(1, int(round(th))), cv2.LINE_AA, SH)


def _ellipse(img, c, axes, angle, col, th=-1, a0=0, a1=360):
    cv2.ellipse(img, (int(round(c[0] * ONE)), int(round(c[1] * ONE))),
                (max(1, int(round(axes[0] * ONE))), max(1, int(round(axes[1] * ONE)))),
                float(angle), float(a0), float(a1), _col(col),
                -1 if th < 0 else max(1, int(round(th))), cv2.LINE_AA, SH)


@lru_cache(maxsize=256)
def _smooth_matrix(m: int, n: int, closed: bool) -> np.ndarray:
    """Linear operator of Catmull-Rom resampling (n samples per segment) of m points."""
    eye = np.eye(m)
    ext = np.vstack([eye[-1:], eye, eye[:2]]) if closed else \
        np.vstack([2 * eye[0] - eye[1], eye, 2 * eye[-1] - eye[-2]])
    segs = m if closed else m - 1
    t = np.linspace(0, 1, n, endpoint=False)[:, None]
    t2, t3 = t * t, t * t * t
    out = []
    for i in range(segs):
        p0, p1, p2, p3 = ext[i], ext[i + 1], ext[i + 2], ext[i + 3]
        out.append(0.5 * ((2 * p1) + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t2 +
                          (-p0 + 3 * p1 - 3 * p2 + p3) * t3))
    if not closed:
        out.append(eye[-1:])
    return np.vstack(out)


def _smooth(pts, n=3, closed=False):
    """Catmull-Rom resampling of a polyline (n points per segment)."""
    p = np.asarray(pts, np.float64)
    if len(p) < 3:
        return p
    return _smooth_matrix(len(p), n, closed) @ p


BG_POOL = 96      # cluttered backgrounds are drawn from a pool (cached), colour-cast per frame


@lru_cache(maxsize=BG_POOL + 32)
def _background(kind: str, colour: tuple, seed: int, size: int) -> np.ndarray:
    c = np.asarray(colour, np.float32)
    if kind == "plain":
        return np.broadcast_to(c, (size, size, 3)).astype(np.uint8)
    rng = np.random.default_rng(seed)
    ramp = np.linspace(1.25, 0.7, size, dtype=np.float32)[:, None, None]
    if kind == "graded":
        img = np.broadcast_to(c * ramp, (size, size, 3))
        return np.clip(img, 0, 255).astype(np.uint8)
    c = rng.uniform(0, 255, 3).astype(np.float32)
    c2 = rng.uniform(0, 255, 3).astype(np.float32)
    w = np.linspace(0, 1, size, dtype=np.float32)
    mix = (w[None, :, None] * 0.6 + w[:, None, None] * 0.4)
    img = np.clip(c * (1 - mix) + c2 * mix, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(3, 9))):
        col = tuple(float(v) for v in rng.uniform(0, 255, 3))
        x, y = (int(v) for v in rng.integers(0, size, 2))
        r = int(rng.integers(size // 12, size // 3))
        if rng.random() < 0.5:
            cv2.rectangle(img, (x - r, y - r // 2), (x + r, y + r), col, -1, cv2.LINE_AA)
        else:
            cv2.circle(img, (x, y), r, col, -1, cv2.LINE_AA)
    return cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.8, 2.5)) * size / 128)


@lru_cache(maxsize=8)
def _vignette(size: int) -> np.ndarray:
    w = np.linspace(-1, 1, size, dtype=np.float32)
    r2 = w[None, :] ** 2 + w[:, None] ** 2
    return np.clip(1.0 - 0.5 * r2, 0, 1)[..., None]


@lru_cache(maxsize=8)
def _noise_bank(size: int) -> np.ndarray:
    return np.random.default_rng(12345).normal(0, 1, (2 * size, 2 * size, 3)).astype(np.float32)


def _clip_draw(img, poly, draw_fn):
    """Draw with ``draw_fn(roi, offset)`` inside ``poly`` only (antialiased clip)."""
    x0, y0 = np.floor(poly.min(0)).astype(int) - 1
    x1, y1 = np.ceil(poly.max(0)).astype(int) + 2
    h, w = img.shape[:2]
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    roi = img[y0:y1, x0:x1]
    tmp = roi.copy()
    off = np.array([x0, y0], np.float64)
    draw_fn(tmp, off)
    mask = np.zeros(roi.shape[:2], np.uint8)
    cv2.fillPoly(mask, [_ip(poly - off)], 255, cv2.LINE_8, SH)
    cv2.copyTo(tmp, mask, roi)


def draw(pts: np.ndarray, ident: Identity, aus: np.ndarray, cap: Capture, size: int,
         rest: np.ndarray | None = None) -> np.ndarray:
    """Draw one face. ``pts`` (P, 2) projected model points in pixels, ``aus`` (n_AU,)
    intensities 0-5 (in :data:`AUS` order) that drive the appearance cues."""
    dom = get_domain(cap.domain)
    bg = _background(dom.background, tuple(int(v) // 6 * 6 for v in cap.bg_colour)
                     if dom.background != "clutter" else (0, 0, 0),
                     cap.bg_seed % BG_POOL if dom.background == "clutter" else 0, size)
    img = bg.copy()
    if cap.no_face:
        return _post(img, cap, size)
    P = pts.astype(np.float64)
    a = np.asarray(aus, float) / 5.0
    if rest is not None:
        a = a + np.asarray(rest) / 5.0 * 0.8
    A = {k: float(a[i]) for k, i in _AI.items()}
    ex = P[16] - P[0]
    u = float(np.linalg.norm(ex)) / 2.0             # pixels per model unit
    ex = ex / (2 * u)
    ey = np.array([-ex[1], ex[0]])                  # image "down" of the face
    EX, EY = ex * u, ey * u                         # face axes scaled to pixels per unit
    ANG = float(np.degrees(np.arctan2(ex[1], ex[0])))  # in-plane face angle
    th = max(1.0, u / 40.0)
    skin = ident.skin
    mask = np.zeros((size, size), np.uint8)

    def mpoly(p):
        cv2.fillPoly(mask, [_ip(p)], 255, cv2.LINE_8, SH)

    # --- hair behind the head, neck, clothes, ears ---------------------------------------
    skull = P[E["skull"]]
    centre = (P[0] + P[16]) / 2
    outward = skull - centre
    outward /= np.linalg.norm(outward, axis=1, keepdims=True) + 1e-9
    hair_out = skull + outward * ident.hair_volume * u
    hc = ident.hair_colour
    if ident.hair_style in ("long", "medium"):
        drop = 1.35 if ident.hair_style == "long" else 0.75
        back = np.vstack([hair_out, hair_out[-1] + EY * (drop) + EX * (0.12),
                          hair_out[0] + EY * (drop) - EX * (0.12)])
        _poly(img, _smooth(back, 2, closed=True), hc * 0.8)
        mpoly(back)
    elif ident.hair_style == "bun":
        c = P[E["skull"][6]] - EY * (0.25)
        _ellipse(img, c, (0.35 * u, 0.28 * u), 0, hc * 0.85)
    neck = P[E["neck"]]
    nb = (neck[1] + neck[2]) / 2
    shoulders = np.array([neck[1] - (0.05 * u, 0), neck[1] + (-1.1 * u, 0.35 * u),
                          neck[1] + (-1.6 * u, 2 * u), neck[2] + (1.6 * u, 2 * u),
                          neck[2] + (1.1 * u, 0.35 * u), neck[2] + (0.05 * u, 0)])
    _poly(img, neck, skin * 0.86)
    mpoly(neck)
    _poly(img, _smooth(shoulders, 3), ident.clothes)
    mpoly(shoulders)
    _poly(img, np.array([nb + (-0.35 * u, -0.02 * u), nb + (0, 0.22 * u), nb + (0.35 * u, -0.02 * u)]),
          skin * 0.86)
    for side in ("ear_l", "ear_r"):
        ear = _smooth(P[E[side]], 3)
        _poly(img, ear, skin * 0.9)
        _line(img, ear[2:-2] * 0.75 + ear[2:-2].mean(0) * 0.25, skin * 0.7, th)
        mpoly(ear)

    # --- skin ------------------------------------------------------------------------------
    outline = np.vstack([P[0:17], skull[::-1]])
    face = _smooth(outline, 2, closed=True)
    _poly(img, face, skin)
    mpoly(face)
    skin_dark = skin * 0.28                         # creases darken the local skin tone
    dark = lambda t: _lerp(skin, skin_dark, t)      # noqa: E731
    light = lambda t: _lerp(skin, _WHITE, t)        # noqa: E731

    # cheeks: bulge raised by AU6 (and AU12), crescent furrow below (FG-Net AU6 ROI region)
    k6 = np.clip(A["AU6"] + 0.45 * A["AU12"], 0, 1)
    for ci, eye in ((E["cheeks"][0], (36, 39)), (E["cheeks"][1], (42, 45))):
        c = P[ci]
        ang = ANG
        _ellipse(img, c, (0.26 * u, 0.18 * u), ang, light(0.03 + 0.05 * k6))
        _ellipse(img, c - EY * (0.02), (0.16 * u, 0.10 * u), ang, light(0.05 + 0.09 * k6))
        if k6 > 0.02:
            _ellipse(img, c + EY * (0.07), (0.22 * u, 0.14 * u),
                     ANG, dark(0.5 * k6), th, 25, 155)
    # lower-lid furrow (AU6, AU7)
    kl = np.clip(A["AU6"] * 0.8 + A["AU7"] * 0.5 + 0.15 * ident.age, 0, 1)
    if kl > 0.03:
        for idx in ((36, 41, 40, 39), (42, 47, 46, 45)):
            _line(img, _smooth(P[list(idx)] + EY * (0.07), 2), dark(0.45 * kl), th)
    # crow's feet (AU6)
    kc = np.clip(A["AU6"] * 0.9 + 0.25 * ident.age, 0, 1)
    if kc > 0.04:
        for corner, s in ((36, -1), (45, 1)):
            o = P[corner] + EX * (s * 0.07)
            for ang in (-0.5, -0.1, 0.3):
                d = ex * s * np.cos(ang) + ey * np.sin(ang)
                _line(img, np.array([o, o + d * (0.08 + 0.07 * kc) * u]), dark(0.55 * kc), th)
    # forehead wrinkles: central (AU1) and lateral (AU2)
    fh = P[E["forehead"]].reshape(3, 5, 2)
    k1 = np.clip(A["AU1"] + 0.2 * ident.age, 0, 1)
    k2 = np.clip(A["AU2"] + 0.2 * ident.age, 0, 1)
    for r in range(3):
        row = fh[r]
        if k1 > 0.05:
            _line(img, _smooth(row[1:4] - ey * (0.02 * np.array([[0], [1], [0]])) * u, 3),
                  dark(0.5 * k1), th)
        if k2 > 0.05:
            for seg in (row[0:2], row[3:5]):
                _line(img, seg + (seg[1] - seg[0]) * np.array([[-0.1], [0.05]]), dark(0.5 * k2), th)
    # glabella lines (AU4) and procerus line (AU4/AU9)
    k4 = np.clip(A["AU4"] + 0.3 * A["AU9"], 0, 1)
    if k4 > 0.04:
        g = (P[21] + P[22]) / 2
        for s in (-1, 1):
            top = g + EX * (s * 0.05) - EY * (0.02)
            _line(img, np.array([top, top + ey * (0.08 + 0.08 * k4) * u + EX * (s * 0.01)]),
                  dark(0.6 * k4), th)
        _line(img, np.array([P[27] - EX * (0.07), P[27] + EX * (0.07)]) + EY * (0.02),
              dark(0.35 * k4), th)
    # nose-bridge wrinkles (AU9)
    k9 = A["AU9"]
    if k9 > 0.04:
        for t in (0.2, 0.45, 0.7):
            c = P[27] + (P[28] - P[27]) * t * 1.4
            w = (0.09 + 0.03 * t) * u
            _line(img, np.array([c - ex * w + EY * (0.015), c, c + ex * w + EY * (0.015)]),
                  dark(0.6 * k9), th)
    # nasolabial folds (AU12 mostly, AU10, AU9, age)
    kn = np.clip(0.12 + 0.3 * ident.age + 0.75 * A["AU12"] + 0.5 * A["AU10"] + 0.35 * A["AU9"] +
                 0.15 * A["AU6"], 0, 1)
    for side in ("nasolabial_l", "nasolabial_r"):
        _line(img, _smooth(P[E[side]], 4), dark(0.5 * kn), th * (1.5 if kn > 0.6 else 1))
    # dimples (AU14): a crescent beyond each tightened corner, the corner itself shadowed
    if A["AU14"] > 0.04:
        for corner, s in ((48, -1), (54, 1)):
            c = P[corner] + EX * (s * 0.09)
            _ellipse(img, c, (0.05 * u, 0.11 * u), ANG, dark(0.8 * A["AU14"]), th * 2,
                     90 + 90 * s - 75, 90 + 90 * s + 75)
            _ellipse(img, P[corner] + EX * (s * 0.02), (0.045 * u, 0.04 * u), 0, dark(0.35 * A["AU14"]))
    # lines below the lip corners (AU15)
    if A["AU15"] > 0.04:
        for corner, s in ((48, -1), (54, 1)):
            o = P[corner] + EY * (0.03)
            _line(img, np.array([o, o + (ey * 0.15 + EX * (s * 0.05))]), dark(0.55 * A["AU15"]), th)
    # chin boss (AU17): bulge, dimpled skin, mentolabial furrow (AU17, AU24)
    cb = P[E["chin_boss"][0]]
    k17 = A["AU17"]
    _ellipse(img, cb, (0.2 * u, 0.11 * u), ANG, light(0.04 + 0.14 * k17))
    if k17 > 0.04:
        for dx, dy in ((-0.08, -0.02), (0.05, -0.04), (0.1, 0.03), (-0.03, 0.05), (0.0, -0.07)):
            _ellipse(img, cb + (ex * dx + ey * dy) * u, (0.018 * u + 0.4, 0.014 * u + 0.4), 0,
                     dark(0.5 * k17))
    km = np.clip(0.1 + 0.6 * k17 + 0.4 * A["AU24"], 0, 1)
    mf = (P[57] + cb) / 2
    _ellipse(img, mf, (0.13 * u, 0.035 * u), ANG, dark(0.45 * km),
             th, 200, 340)
    # eye sockets
    for idx in (slice(36, 42), slice(42, 48)):
        c = P[idx].mean(0)
        _ellipse(img, c - EY * (0.02), (0.23 * u, 0.13 * u), ANG,
                 dark(0.12))

    # --- eyes --------------------------------------------------------------------------------
    iris_r = 0.075 * u
    for idx in ((36, 37, 38, 39, 40, 41), (42, 43, 44, 45, 46, 47)):
        eye = P[list(idx)]
        poly = _smooth(eye, 3, closed=True)
        _poly(img, poly, (235, 232, 226))
        c = (eye[0] + eye[3]) / 2 + EX * (cap.gaze[0] * 0.1) + EY * (cap.gaze[1] * 0.05)
        # the iris is squeezed to the lid opening instead of clipped (cheap, same look)
        top = (eye[1, 1] + eye[2, 1]) / 2
        bot = (eye[4, 1] + eye[5, 1]) / 2
        ry = min(iris_r, max(0.5, (bot - top) / 2))
        c = np.array([c[0], min(max(c[1], top + ry), bot - ry) if bot - top > 2 * ry else (top + bot) / 2])
        _ellipse(img, c, (iris_r, ry), ANG, ident.iris)
        _ellipse(img, c, (iris_r * 0.45, min(iris_r * 0.45, ry)), ANG, (15, 12, 12))
        _ellipse(img, c + (-0.25 * iris_r, -0.3 * ry), (iris_r * 0.18, iris_r * 0.18), 0, (250, 250, 250))
        up = _smooth(eye[[0, 1, 2, 3]], 3)
        _line(img, up, (25, 18, 16), th * 1.4)
        _line(img, _smooth(eye[[3, 4, 5, 0]], 3), dark(0.35), th * 0.8)
        kcrease = 0.3 * (1 - A["AU5"]) * (1 - 0.5 * A["AU7"])
        if kcrease > 0.03:
            _line(img, up[2:-2] - EY * (0.055), dark(kcrease), th)

    # --- brows -------------------------------------------------------------------------------
    bt = ident.brow_thickness * u
    for idx, outer_first in ((list(range(17, 22)), True), (list(range(22, 27)), False)):
        b = _smooth(P[idx], 2)
        n = len(b)
        taper = np.linspace(0.45, 1.0, n) if outer_first else np.linspace(1.0, 0.45, n)
        top = b - ey * (bt * 0.5 * taper)[:, None]
        bot = b + ey * (bt * 0.5 * taper)[:, None]
        _poly(img, np.vstack([top, bot[::-1]]), ident.brow_colour)

    # --- nose --------------------------------------------------------------------------------
    side = -1 if cap.light[0] > 0 else 1
    _line(img, np.array([P[27] + EX * (side * 0.07), P[29] + EX * (side * 0.09),
                         P[31 if side < 0 else 35]]), dark(0.18), th)
    _ellipse(img, P[30] - EY * (0.02), (0.06 * u, 0.045 * u), 0, light(0.18))
    for ni, s in ((32, -1), (34, 1)):
        _ellipse(img, P[ni] - EY * (0.01), (0.04 * u, 0.022 * u),
                 ANG + 20 * s, (60, 35, 30))
    for ni, s in ((31, -1), (35, 1)):
        _ellipse(img, P[ni] - EY * (0.04), (0.06 * u, 0.07 * u), ANG,
                 dark(0.35), th, 90 - 100 * s, 90 + 60 * s if s > 0 else 90 + 100)
    _line(img, _smooth(P[31:36], 2), dark(0.2), th)

    # --- mouth -------------------------------------------------------------------------------
    inner = P[60:68]
    gap = float(np.linalg.norm(P[66] - P[62]))
    if gap > 0.012 * u:
        inner_s = _smooth(inner, 3, closed=True)
        upper_in = P[[60, 61, 62, 63, 64]]
        lower_in = P[[64, 65, 66, 67, 60]]

        def draw_mouth(t, off):
            t[:] = (70, 22, 28)
            teeth_h = min(0.07 * u, gap * 0.55)
            _poly(t, np.vstack([upper_in, upper_in[::-1] + ey * teeth_h]) - off, (238, 236, 225))
            if gap > 0.12 * u:
                _poly(t, np.vstack([lower_in, lower_in[::-1] - EY * (0.05)]) - off, (225, 222, 210))
        _clip_draw(img, inner_s, draw_mouth)
    k_thin = np.clip(A["AU23"] * 0.5 + A["AU24"] * 0.5, 0, 1)
    lipc = _lerp(ident.lip, skin, 0.55 * k_thin)
    upper = np.vstack([_smooth(P[48:55], 3), _smooth(P[[64, 63, 62, 61, 60]], 3)])
    lower = np.vstack([_smooth(np.vstack([P[54:60], P[48:49]]), 3), _smooth(P[[60, 67, 66, 65, 64]], 3)])
    _poly(img, upper, lipc * 0.92)
    _poly(img, lower, lipc)
    _line(img, _smooth(P[[60, 61, 62, 63, 64]], 3), lipc * 0.55, th)
    if A["AU24"] > 0.05:     # bulge below the pressed lower lip
        _line(img, _smooth(P[[59, 58, 57, 56, 55]], 2) + EY * (0.04), light(0.25 * A["AU24"]), th)

    # --- beard, moustache ----------------------------------------------------------------------
    if ident.beard != "none" or ident.moustache:
        def draw_beard(t, off):
            if ident.beard == "full":
                poly = np.vstack([P[2:15], P[E["nasolabial_r"][2]] + EY * (0.02),
                                  P[55] + EY * (0.05), P[57] + EY * (0.06),
                                  P[59] + EY * (0.05), P[E["nasolabial_l"][2]] + EY * (0.02)])
                _poly(t, poly - off, hc)
            elif ident.beard in ("goatee", "stubble"):
                poly = np.vstack([P[5:12], P[55] + EY * (0.05), P[57] + EY * (0.06),
                                  P[59] + EY * (0.05)])
                if ident.beard == "stubble":
                    poly = np.vstack([P[3:14], P[54] + EY * (0.03), P[57] + EY * (0.06),
                                      P[48] + EY * (0.03)])
                _poly(t, poly - off, hc)
            if ident.moustache:
                m = np.vstack([P[48:55] - EY * (0.02),
                               P[[35, 34, 33, 32, 31]] + EY * (0.03)])
                _poly(t, m - off, hc)
        bb = np.vstack([P[2:15], P[31:36]])
        x0, y0 = np.floor(bb.min(0)).astype(int) - 2
        x1, y1 = np.ceil(bb.max(0)).astype(int) + 2
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, size), min(y1, size)
        if x1 - x0 > 2 and y1 - y0 > 2:
            roi = img[y0:y1, x0:x1]
            tmp = roi.copy()
            draw_beard(tmp, np.array([x0, y0], float))
            alpha = 0.35 if ident.beard == "stubble" else 0.85
            cv2.addWeighted(tmp, alpha, roi, 1 - alpha, 0, dst=roi)

    # --- hair on top ---------------------------------------------------------------------------
    if ident.hair_style != "bald":
        hl = P[E["hairline"]]
        if ident.hair_style == "fringe":
            fr = np.vstack([hl[0], hl[1:-1] + EY * (ident.fringe_depth), hl[-1]])
            cap_poly = np.vstack([hair_out, fr[::-1]])
        else:
            cap_poly = np.vstack([hair_out, hl[::-1]])
        cap_poly = _smooth(cap_poly, 2, closed=True)
        _poly(img, cap_poly, hc)
        mpoly(cap_poly)
        _line(img, _smooth(hl[2:-2], 2) - EY * (0.03), hc * 0.7, th)

    # --- shading -----------------------------------------------------------------------------
    img = _shade(img, mask, P, u, ex, ey, cap, bg)

    # --- glasses -----------------------------------------------------------------------------
    if ident.glasses != "none":
        gc, gth = ident.glasses_colour, th * (1.6 if ident.glasses == "rect" else 1.2)
        ang = ANG
        cs = []
        for idx in (slice(36, 42), slice(42, 48)):
            c = P[idx].mean(0) + ey * 0.02 * u
            cs.append(c)
            if ident.glasses == "round":
                _ellipse(img, c, (0.2 * u, 0.17 * u), ang, gc, gth)
            else:
                r = np.array([[-0.22, -0.13], [0.22, -0.13], [0.21, 0.13], [-0.21, 0.13]])
                _line(img, c + r[:, :1] * ex * u + r[:, 1:] * ey * u, gc, gth, closed=True)
        _line(img, np.array([cs[0] + ex * 0.2 * u, (cs[0] + cs[1]) / 2 - ey * 0.04 * u,
                             cs[1] - ex * 0.2 * u]), gc, gth)
        _line(img, np.array([cs[0] - ex * 0.21 * u, P[E["ear_l"][1]] * 0.5 + P[0] * 0.5]), gc, gth)
        _line(img, np.array([cs[1] + ex * 0.21 * u, P[E["ear_r"][1]] * 0.5 + P[16] * 0.5]), gc, gth)

    # --- occluder ----------------------------------------------------------------------------
    if cap.occluder is not None:
        kind, ox, oy, rx, ry, ang, col = cap.occluder
        c = centre + (ex * ox + ey * oy) * u
        if kind == "band":
            _line(img, np.array([c - ex * 1.2 * u, c + ex * 1.2 * u]), col, max(2, ry * u * 0.6))
        else:
            _ellipse(img, c, (rx * u, ry * u), ang, col)
            if kind == "hand":
                for k in range(-1, 3):
                    _line(img, np.array([c + ex * k * 0.12 * u - ey * ry * 0.5 * u,
                                         c + ex * k * 0.12 * u + ey * ry * 0.8 * u]),
                          np.asarray(col) * 0.75, th)
    return _post(img, cap, size)


@lru_cache(maxsize=8)
def _grid(n: int, size: int):
    g = (np.arange(n, dtype=np.float32) + 0.5) * (size / n) - 0.5
    return np.meshgrid(g, g)


def _shade(img, mask, P, u, ex, ey, cap, bg=None):
    """Lambertian shading of everything drawn in ``mask`` from a head-ellipsoid normal map
    (computed at a quarter of the resolution, applied in uint8 fixed point; pixels outside
    the mask are restored from ``bg``)."""
    size = img.shape[0]
    n = max(16, size // 4)
    xs, ys = _grid(n, size)
    c = (P[0] + P[16]) / 2 + ey * 0.05 * u
    dx, dy = xs - np.float32(c[0]), ys - np.float32(c[1])
    nx = (dx * np.float32(ex[0]) + dy * np.float32(ex[1])) * np.float32(1 / (1.15 * u))
    ny = (dx * np.float32(ey[0]) + dy * np.float32(ey[1])) * np.float32(1 / (1.55 * u))
    r2 = nx * nx + ny * ny
    nz = np.sqrt(np.clip(1.0 - r2, 0.0, 1.0))
    lx, ly, lz = cap.light
    lfx = lx * ex[0] + ly * ex[1]
    lfy = lx * ey[0] + ly * ey[1]
    inv = 1.0 / np.sqrt(np.maximum(r2 + nz * nz, 1e-6))
    lam = np.clip((nx * np.float32(lfx) + ny * np.float32(lfy) + nz * np.float32(lz)) * inv, 0.0, 1.0)
    shade = np.clip((cap.ambient + cap.diffuse * lam) * 128.0, 0, 255).astype(np.uint8)
    shade = cv2.resize(shade, (size, size), interpolation=cv2.INTER_LINEAR)
    out = cv2.multiply(img, cv2.merge([shade, shade, shade]), scale=1 / 128.0)
    if bg is not None:
        cv2.copyTo(bg, cv2.bitwise_not(mask), out)
    return out


def _post(img, cap, size):
    """Capture degradations: colour cast, vignette, blur, sensor noise (JPEG at encode)."""
    g = cap.gain
    if abs(g[0] - 1) + abs(g[1] - 1) + abs(g[2] - 1) > 1e-3:
        img = cv2.multiply(img, np.full(img.shape, (g[0] * 128, g[1] * 128, g[2] * 128), np.float32),
                           scale=1 / 128.0, dtype=cv2.CV_8U)
    if cap.vignette > 0:
        v = np.clip((1.0 - cap.vignette * (1.0 - _vignette(size))) * 128, 0, 255).astype(np.uint8)
        img = cv2.multiply(img, cv2.merge([v, v, v]), scale=1 / 128.0)
    if cap.blur > 0.05:
        img = cv2.GaussianBlur(img, (0, 0), cap.blur * size / 128.0)
    if cap.noise > 0.5:
        bank = _noise_bank(size)
        o = (cap.bg_seed * 7919) % size, (cap.bg_seed * 104729) % size
        noise = bank[o[0]:o[0] + size, o[1]:o[1] + size] * np.float32(cap.noise)
        img = cv2.add(img, noise, dtype=cv2.CV_8U)
    return img


def place(shapes: np.ndarray, caps: list[Capture], size: int) -> np.ndarray:
    """Project shapes (F, P, 3) with each frame's capture into a ``size`` image -> (F, P, 2)."""
    yaw = np.array([c.yaw for c in caps])
    pitch = np.array([c.pitch for c in caps])
    roll = np.array([c.roll for c in caps])
    dist = np.array([c.distance for c in caps])
    scale = np.array([c.face_frac * size / 2.0 for c in caps])
    # the image point (cx, cy) shows model point (0, -0.2), the centre of an FFHQ crop
    center = np.array([(c.cx * size, c.cy * size + 0.45 * c.face_frac * size / 2.0) for c in caps])
    pts, _ = fm.project(shapes, yaw, -pitch, roll, dist, scale, center)
    return pts


def encode_jpeg_roundtrip(img: np.ndarray, quality: int) -> np.ndarray:
    """Apply JPEG compression in memory (RGB in, RGB out)."""
    ok, buf = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy()


def render_face(aus: dict[str, float] | None = None, identity: int = 0, domain: str = "lab-a",
                pose=None, size: int = 128, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Render one face.

    Parameters
    ----------
    aus: AU intensities on FACS's 0-5 scale, e.g. ``{"AU12": 4, "AU6": 3}``; missing AUs are 0.
    identity: identity seed (any integer; thousands of distinct people).
    domain: ``"lab-a"``, ``"lab-b"`` or ``"wild"`` (see :mod:`aulib.synth.domains`).
    pose: ``(yaw, pitch, roll)`` in degrees, or None to draw it from the domain.
    size: output side in pixels (up to 256 and beyond).
    seed: draws the capture conditions (light, background, noise...).

    Returns ``(image, landmarks)``: RGB ``uint8`` (size, size, 3) and float32 (68, 2) pixel
    coordinates (x, y) of the iBUG-68 landmarks (exact, from the model).
    """
    levels = check_aus(aus)
    vec = np.zeros(len(AUS))
    for k, v in levels.items():
        vec[_AI[k]] = v
    ident = make_identity(identity)
    rng = np.random.default_rng([int(seed), int(identity) % (2**32), 7])
    cap = sample_capture(domain, rng, pose=pose)
    shape = fm.compose(ident.coeffs, vec[None], rest_offsets=ident.rest)
    pts = place(shape, [cap], size)[0]
    img = draw(pts, ident, vec, cap, size, rest=ident.rest)
    if cap.jpeg < 95:
        img = encode_jpeg_roundtrip(img, cap.jpeg)
    return img, pts[:68].copy()
