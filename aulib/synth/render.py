"""The SynthAU renderer: a posed, projected face model drawn as a schematic face with OpenCV.

Owns :func:`draw` (projected points + identity + AU intensities + capture -> RGB image) and
:func:`render_face` (the public one-call API). Everything is drawn with OpenCV's
antialiased, sub-pixel (``shift``) polygons and lines on an RGB ``uint8`` canvas: background,
hair, neck and clothes, ears, skin, the FACS appearance cues of the active AUs (forehead
wrinkles for AU1/AU2, glabella lines for AU4, crow's feet and cheek bulge for AU6, nose
wrinkles for AU9, nasolabial folds for AU9/10/12, dimples for AU14, chin-boss wrinkles for
AU17...), eyes clipped by their lids, brows, nose, lips, mouth cavity and teeth, beard,
then a Lambertian shading of the head, glasses, occluders and the capture's degradations
(face-priority auto-exposure where the domain asks for it, colour cast, vignette, blur, noise;
JPEG is applied when the image is encoded).

Seen by a face detector (issue #12): dlib's HOG frontal detector, trained on photographs, looks
for the shading real faces show - dark eye sockets, a shadow beside the nose, under the jaw and
on the neck - and is thrown by bold outlines over the eyes. The renderer draws those shadows
and thin, skin-toned glasses rims, so dlib finds the faces it would find in a photograph
(measured per domain by :func:`aulib.face.detector_check.synthau_detector_check`).

Speed (issue #3): every point drawn is a fixed linear combination of the projected model
points and a few per-frame vectors, so :func:`_geometry` is traced once per structural variant
(hair style, beard, glasses) into a sparse matrix and a frame's whole geometry is one sparse
product plus one rounding to OpenCV's fixed point; colours and scalars are plain Python floats,
same-coloured strokes go to OpenCV in one call, and the capture degradations use OpenCV's fast
uint8 paths (tables, fixed-point multiplies, a separable float Gaussian).

Images are RGB in memory; the writers convert to BGR only when encoding with OpenCV.
"""
from __future__ import annotations

import math
from dataclasses import replace
from functools import lru_cache

import cv2
import numpy as np
from scipy.sparse import csr_matrix

from . import face_model as fm
from .catalogue import AUS, check_aus
from .domains import Capture, get_domain, sample_capture
from .identity import Identity, make_identity

SH = 4                  # sub-pixel bits for OpenCV drawing
ONE = float(1 << SH)
E = fm.EXTRA
_AI = {a: i for i, a in enumerate(AUS)}


def _ip(p):
    return np.rint(np.asarray(p) * ONE).astype(np.int32).reshape(-1, 1, 2)


def _col(c):
    return (float(c[0]), float(c[1]), float(c[2]))


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


def _gauss(img: np.ndarray, sigma: float) -> np.ndarray:
    """``cv2.GaussianBlur(img, (0, 0), sigma)`` of a uint8 image as a float separable filter
    (the same kernel, about twice as fast as OpenCV's bit-exact uint8 path; +-1 level)."""
    k = cv2.getGaussianKernel(max(3, int(round(sigma * 6 + 1)) | 1), sigma, cv2.CV_32F)
    return cv2.sepFilter2D(img, -1, k, k)


def _tile(rows: np.ndarray, size: int) -> np.ndarray:
    """(size or 1, 3) uint8 row colours -> (size, size, 3) image."""
    return np.tile(rows.reshape(-1, 1, 3), (1 if len(rows) == size else size, size, 1))


@lru_cache(maxsize=BG_POOL + 32)
def _background(kind: str, colour: tuple, seed: int, size: int) -> np.ndarray:
    c = np.asarray(colour, np.float32)
    if kind == "plain":
        return _tile(c.astype(np.uint8), size)
    rng = np.random.default_rng(seed)
    ramp = np.linspace(1.25, 0.7, size, dtype=np.float32)[:, None]
    if kind == "graded":
        return _tile(np.clip(c * ramp, 0, 255).astype(np.uint8), size)
    c = rng.uniform(0, 255, 3).astype(np.float32)
    c2 = rng.uniform(0, 255, 3).astype(np.float32)
    w = np.linspace(0, 1, size, dtype=np.float32)
    # c + (c2 - c) * (0.6 x + 0.4 y): a column term plus a row term, laid out (size, size * 3)
    # so that the channel loop is not the inner one; a convex mix, no clipping needed
    cols = (c + (c2 - c) * (w[:, None] * 0.6)).reshape(-1)
    img = cols[None, :] + (w[:, None] * 0.4) * np.tile(c2 - c, size)[None, :]
    img = img.astype(np.uint8).reshape(size, size, 3)
    for _ in range(int(rng.integers(3, 9))):
        col = tuple(float(v) for v in rng.uniform(0, 255, 3))
        x, y = (int(v) for v in rng.integers(0, size, 2))
        r = int(rng.integers(size // 12, size // 3))
        if rng.random() < 0.5:
            cv2.rectangle(img, (x - r, y - r // 2), (x + r, y + r), col, -1, cv2.LINE_AA)
        else:
            cv2.circle(img, (x, y), r, col, -1, cv2.LINE_AA)
    return _gauss(img, float(rng.uniform(0.8, 2.5)) * size / 128)


@lru_cache(maxsize=8)
def _vignette(size: int) -> np.ndarray:
    w = np.linspace(-1, 1, size, dtype=np.float32)
    r2 = w[None, :] ** 2 + w[:, None] ** 2
    return np.clip(1.0 - 0.5 * r2, 0, 1)[..., None]


@lru_cache(maxsize=8)
def _noise_bank(size: int) -> np.ndarray:
    return np.random.default_rng(12345).normal(0, 1, (2 * size, 2 * size, 3)).astype(np.float32)


# --- geometry ------------------------------------------------------------------------------
# Every point the renderer draws is a fixed linear combination of the projected model points
# and a few per-frame vectors (the face axes scaled to pixels, AU- and identity-dependent
# offsets along them, the hair outline). The combination is worked out once per structural
# variant (hair style, beard, glasses) by running :func:`_geometry` on one-hot "points", so
# a frame's whole geometry is one matrix product (and one rounding to OpenCV's fixed point).
_ROWS = ("EX", "EY", "UX", "UY", "ex", "ey", "KCX", "KCY", "K4Y", "BT", "FR", "GZ", "TEETH")
_NHAIR = len(E["skull"])
_CROW = [(s, np.cos(a), np.sin(a)) for s in (-1, 1) for a in (-0.5, -0.1, 0.3)]
_RECT = np.array([[-0.22, -0.13], [0.22, -0.13], [0.21, 0.13], [-0.21, 0.13]])


class _Sym:
    """The symbols of :func:`_geometry`: rows of ``P`` (model points), ``HO`` (hair
    outline) and the per-frame vectors of :data:`_ROWS` (``EX``/``EY``: face axes in pixels
    per model unit, ``UX``/``UY``: image axes times the same scale, ``ex``/``ey``: unit face
    axes, ``KCX``/``KCY``: crow's feet intensity times EX/EY, ``K4Y``: glabella intensity
    times EY, ``BT``/``FR``: brow thickness / fringe depth times EY, ``GZ``: gaze offset,
    ``TEETH``: visible upper teeth height along ey)."""

    def __init__(self, vectors: np.ndarray, n: int):
        self.P = vectors[:n]
        for i, r in enumerate(_ROWS):
            setattr(self, r, vectors[n + i])
        self.HO = vectors[n + len(_ROWS):]


def _geometry(S: _Sym, style: tuple):
    """Linear geometry of one face: ``(polylines, centres)``, dicts of name -> points
    (k, D) or list of them, and name -> point (D,), in symbol coordinates."""
    hair_style, beard, moustache, glasses = style
    P, EX, EY, UX, UY, ex, ey = S.P, S.EX, S.EY, S.UX, S.UY, S.ex, S.ey
    g, c = {}, {}
    if hair_style in ("long", "medium"):
        drop = 1.35 if hair_style == "long" else 0.75
        back = np.vstack([S.HO, S.HO[-1] + EY * drop + EX * 0.12, S.HO[0] + EY * drop - EX * 0.12])
        g["hair_back_s"] = _smooth(back, 2, closed=True)
        g["hair_back"] = back
    elif hair_style == "bun":
        c["bun"] = P[E["skull"][6]] - EY * 0.25
    neck = P[E["neck"]]
    nb = (neck[1] + neck[2]) / 2
    shoulders = np.array([neck[1] - UX * 0.05, neck[1] - UX * 1.1 + UY * 0.35,
                          neck[1] - UX * 1.6 + UY * 2, neck[2] + UX * 1.6 + UY * 2,
                          neck[2] + UX * 1.1 + UY * 0.35, neck[2] + UX * 0.05])
    g["neck"] = neck
    g["shoulders_s"] = _smooth(shoulders, 3)
    g["shoulders"] = shoulders
    g["neck_base"] = np.array([nb - UX * 0.35 - UY * 0.02, nb + UY * 0.22, nb + UX * 0.35 - UY * 0.02])
    for side in ("ear_l", "ear_r"):
        ear = _smooth(P[E[side]], 3)
        g[side] = ear
        g[side + "_in"] = ear[2:-2] * 0.75 + ear[2:-2].mean(0) * 0.25
    g["face"] = _smooth(np.vstack([P[0:17], P[E["skull"]][::-1]]), 2, closed=True)
    g["jaw"] = _smooth(P[3:14], 2) - EY * 0.03
    for k, ci in enumerate(E["cheeks"]):
        c[f"cheek{k}"] = P[ci]
        c[f"cheek{k}_hi"] = P[ci] - EY * 0.02
        c[f"cheek{k}_furrow"] = P[ci] + EY * 0.07
    g["lid_furrow"] = [_smooth(P[list(idx)] + EY * 0.07, 2) for idx in ((36, 41, 40, 39), (42, 47, 46, 45))]
    crow = []
    for s, ca, sa in _CROW:
        o = P[36 if s < 0 else 45] + EX * (s * 0.07)
        crow.append(np.array([o, o + (EX * (s * ca) + EY * sa) * 0.08 + (S.KCX * (s * ca) + S.KCY * sa) * 0.07]))
    g["crow"] = crow
    fh = P[E["forehead"]].reshape(3, 5, -1)
    g["fh_central"] = [_smooth(fh[r][1:4] - EY * np.array([[0], [0.02], [0]]), 3) for r in range(3)]
    g["fh_lateral"] = [seg + (seg[1] - seg[0]) * np.array([[-0.1], [0.05]])
                       for r in range(3) for seg in (fh[r][0:2], fh[r][3:5])]
    gl = (P[21] + P[22]) / 2
    glab = []
    for s in (-1, 1):
        top = gl + EX * (s * 0.05) - EY * 0.02
        glab.append(np.array([top, top + EY * 0.08 + S.K4Y * 0.08 + EX * (s * 0.01)]))
    g["glabella"] = glab
    g["procerus"] = np.array([P[27] - EX * 0.07, P[27] + EX * 0.07]) + EY * 0.02
    nw = []
    for t in (0.2, 0.45, 0.7):
        cc = P[27] + (P[28] - P[27]) * t * 1.4
        w = 0.09 + 0.03 * t
        nw.append(np.array([cc - EX * w + EY * 0.015, cc, cc + EX * w + EY * 0.015]))
    g["nose_wrinkles"] = nw
    g["nasolabial"] = [_smooth(P[E[side]], 4) for side in ("nasolabial_l", "nasolabial_r")]
    au15 = []
    for corner, s in ((48, -1), (54, 1)):
        c[f"dimple{corner}"] = P[corner] + EX * (s * 0.09)
        c[f"corner{corner}"] = P[corner] + EX * (s * 0.02)
        o = P[corner] + EY * 0.03
        au15.append(np.array([o, o + (ey * 0.15 + EX * (s * 0.05))]))
    g["au15"] = au15
    cb = P[E["chin_boss"][0]]
    c["chin_boss"] = cb
    for j, (dx, dy) in enumerate(((-0.08, -0.02), (0.05, -0.04), (0.1, 0.03), (-0.03, 0.05), (0.0, -0.07))):
        c[f"chin_dot{j}"] = cb + EX * dx + EY * dy
    c["mentolabial"] = (P[57] + cb) / 2
    for k, idx in enumerate((slice(36, 42), slice(42, 48))):
        c[f"socket{k}"] = P[idx].mean(0) - EY * 0.02
    for k, idx in enumerate(((36, 37, 38, 39, 40, 41), (42, 43, 44, 45, 46, 47))):
        eye = P[list(idx)]
        g[f"eye{k}"] = _smooth(eye, 3, closed=True)
        c[f"iris{k}"] = (eye[0] + eye[3]) / 2 + S.GZ
        up = _smooth(eye[[0, 1, 2, 3]], 3)
        g[f"lid_up{k}"] = up
        g[f"lid_low{k}"] = _smooth(eye[[3, 4, 5, 0]], 3)
        g[f"lid_crease{k}"] = up[2:-2] - EY * 0.055
    for k, (idx, outer_first) in enumerate(((list(range(17, 22)), True), (list(range(22, 27)), False))):
        b = _smooth(P[idx], 2)
        taper = np.linspace(0.45, 1.0, len(b)) if outer_first else np.linspace(1.0, 0.45, len(b))
        half = S.BT * (0.5 * taper)[:, None]
        g[f"brow{k}"] = np.vstack([b - half, (b + half)[::-1]])
    for side in (-1, 1):
        g[f"nose_side{side}"] = np.array([P[27] + EX * (side * 0.07), P[29] + EX * (side * 0.09),
                                          P[31 if side < 0 else 35]])
    c["nose_tip"] = P[30] - EY * 0.02
    for ni in (31, 32, 34, 35):
        c[f"nostril{ni}"] = P[ni] - EY * (0.01 if ni in (32, 34) else 0.04)
    g["nose_base"] = _smooth(P[31:36], 2)
    upper_in = P[[60, 61, 62, 63, 64]]
    lower_in = P[[64, 65, 66, 67, 60]]
    g["mouth"] = _smooth(P[60:68], 3, closed=True)
    g["teeth_up"] = np.vstack([upper_in, upper_in[::-1] + S.TEETH])
    g["teeth_low"] = np.vstack([lower_in, lower_in[::-1] - EY * 0.05])
    g["lip_up"] = np.vstack([_smooth(P[48:55], 3), _smooth(P[[64, 63, 62, 61, 60]], 3)])
    g["lip_low"] = np.vstack([_smooth(np.vstack([P[54:60], P[48:49]]), 3),
                              _smooth(P[[60, 67, 66, 65, 64]], 3)])
    g["lip_line"] = _smooth(P[[60, 61, 62, 63, 64]], 3)
    g["au24"] = _smooth(P[[59, 58, 57, 56, 55]], 2) + EY * 0.04
    if beard == "full":
        g["beard"] = np.vstack([P[2:15], P[E["nasolabial_r"][2]] + EY * 0.02, P[55] + EY * 0.05,
                                P[57] + EY * 0.06, P[59] + EY * 0.05, P[E["nasolabial_l"][2]] + EY * 0.02])
    elif beard == "goatee":
        g["beard"] = np.vstack([P[5:12], P[55] + EY * 0.05, P[57] + EY * 0.06, P[59] + EY * 0.05])
    elif beard == "stubble":
        g["beard"] = np.vstack([P[3:14], P[54] + EY * 0.03, P[57] + EY * 0.06, P[48] + EY * 0.03])
    if moustache:
        g["moustache"] = np.vstack([P[48:55] - EY * 0.02, P[[35, 34, 33, 32, 31]] + EY * 0.03])
    if hair_style != "bald":
        hl = P[E["hairline"]]
        if hair_style == "fringe":
            fr = np.vstack([hl[0], hl[1:-1] + S.FR, hl[-1]])
            cap_poly = np.vstack([S.HO, fr[::-1]])
        else:
            cap_poly = np.vstack([S.HO, hl[::-1]])
        g["hair_cap"] = _smooth(cap_poly, 2, closed=True)
        g["hairline"] = _smooth(hl[2:-2], 2) - EY * 0.03
    if glasses != "none":
        cs = [P[idx].mean(0) + EY * 0.02 for idx in (slice(36, 42), slice(42, 48))]
        if glasses == "round":
            c["glass0"], c["glass1"] = cs
        else:
            g["glass_rims"] = [cc + _RECT[:, :1] * EX + _RECT[:, 1:] * EY for cc in cs]
        g["glass_bars"] = [np.array([cs[0] + EX * 0.2, (cs[0] + cs[1]) / 2 - EY * 0.04, cs[1] - EX * 0.2]),
                           np.array([cs[0] - EX * 0.21, P[E["ear_l"][1]] * 0.5 + P[0] * 0.5]),
                           np.array([cs[1] + EX * 0.21, P[E["ear_r"][1]] * 0.5 + P[16] * 0.5])]
    return g, c


@lru_cache(maxsize=256)
def _compiled(n: int, style: tuple):
    """``(M, centres, slices, groups)``: M (T, D, sparse) maps the basis (D, 2) of a frame to all
    its points times ``ONE`` (centres first, ``centres`` = name -> row), ``slices`` = name ->
    rows of a polyline, ``groups`` = name -> list of row slices."""
    D = n + len(_ROWS) + _NHAIR
    g, c = _geometry(_Sym(np.eye(D), n), style)
    blocks = [np.array(list(c.values()), np.float64).reshape(-1, D)]
    centres = {k: i for i, k in enumerate(c)}
    row = len(c)
    slices, groups = {}, {}
    for name, v in g.items():
        parts = v if isinstance(v, list) else [v]
        sl = []
        for p in parts:
            p = np.asarray(p, np.float64).reshape(-1, D)
            blocks.append(p)
            sl.append(slice(row, row + len(p)))
            row += len(p)
        if isinstance(v, list):
            groups[name] = sl
        else:
            slices[name] = sl[0]
    M = csr_matrix(np.vstack(blocks) * ONE)        # sparse: a few terms per point
    return M, centres, slices, groups


def _t(x):
    """OpenCV line thickness of a float width."""
    return max(1, int(round(x)))


def _ell(img, c, a, b, ang, col, th=-1, a0=0.0, a1=360.0):
    cv2.ellipse(img, c, (max(1, int(round(a * ONE))), max(1, int(round(b * ONE)))),
                ang, a0, a1, col, th, cv2.LINE_AA, SH)


def _mul(c, k):
    return (c[0] * k, c[1] * k, c[2] * k)


_I1, _I2, _I4, _I5, _I6, _I7, _I9, _I10, _I12, _I14, _I15, _I17, _I23, _I24 = (
    _AI[a] for a in ("AU1", "AU2", "AU4", "AU5", "AU6", "AU7", "AU9", "AU10", "AU12", "AU14",
                     "AU15", "AU17", "AU23", "AU24"))
_SKULL = E["skull"]
_AA, _L8 = cv2.LINE_AA, cv2.LINE_8


def draw(pts: np.ndarray, ident: Identity, aus: np.ndarray, cap: Capture, size: int,
         rest: np.ndarray | None = None) -> np.ndarray:
    """Draw one face. ``pts`` (P, 2) projected model points in pixels, ``aus`` (n_AU,)
    intensities 0-5 (in :data:`AUS` order) that drive the appearance cues."""
    dom = get_domain(cap.domain)
    if dom.background == "clutter":
        bg = _background("clutter", (0, 0, 0), cap.bg_seed % BG_POOL, size)
    else:
        bc = cap.bg_colour
        bg = _background(dom.background, (int(bc[0]) // 6 * 6, int(bc[1]) // 6 * 6, int(bc[2]) // 6 * 6),
                         0, size)
    img = bg.copy()
    if cap.no_face:
        return _post(img, cap, size)
    P = np.asarray(pts, np.float64)
    n = len(P)
    a = np.asarray(aus, float) * 0.2
    if rest is not None:
        a = a + np.asarray(rest) * 0.16
    A = a.tolist()
    (x0_, y0_), (x16, y16) = P[0].tolist(), P[16].tolist()
    dx, dy = x16 - x0_, y16 - y0_
    u = max(math.hypot(dx, dy) / 2.0, 1e-6)         # pixels per model unit
    exx, exy = dx / (2 * u), dy / (2 * u)           # face "right" (unit), image "down" is ey
    eyx, eyy = -exy, exx
    EXx, EXy, EYx, EYy = exx * u, exy * u, eyx * u, eyy * u
    ANG = math.degrees(math.atan2(exy, exx))         # in-plane face angle
    th = max(1.0, u / 40.0)
    t1 = _t(th)
    hair_style = ident.hair_style

    # --- per-frame basis and all points at once ----------------------------------------------
    kc = min(max(A[_I6] * 0.9 + 0.25 * ident.age, 0.0), 1.0)
    k4 = min(max(A[_I4] + 0.3 * A[_I9], 0.0), 1.0)
    x62, y62 = P[62].tolist()
    x66, y66 = P[66].tolist()
    gap = math.hypot(x66 - x62, y66 - y62)
    teeth_h = min(0.07 * u, gap * 0.55)
    gz0, gz1 = cap.gaze[0] * 0.1, cap.gaze[1] * 0.05
    bt, fr = ident.brow_thickness, ident.fringe_depth
    M, CI, SL, GR = _compiled(n, (hair_style, ident.beard, ident.moustache, ident.glasses))
    B = np.empty((M.shape[1], 2))
    B[:n] = P
    B[n:n + len(_ROWS)] = (
        (EXx, EXy), (EYx, EYy), (u, 0.0), (0.0, u), (exx, exy), (eyx, eyy),
        (kc * EXx, kc * EXy), (kc * EYx, kc * EYy), (k4 * EYx, k4 * EYy), (bt * EYx, bt * EYy),
        (fr * EYx, fr * EYy), (EXx * gz0 + EYx * gz1, EXy * gz0 + EYy * gz1),
        (eyx * teeth_h, eyy * teeth_h))
    if hair_style != "bald":
        skull = P[_SKULL]
        outward = skull - ((x0_ + x16) / 2, (y0_ + y16) / 2)
        outward *= (ident.hair_volume * u) / (np.sqrt((outward * outward).sum(1, keepdims=True)) + 1e-9)
        B[n + len(_ROWS):] = skull + outward
    else:
        B[n + len(_ROWS):] = 0.0
    F = M @ B                                        # every point, in 1/ONE pixels
    I = np.rint(F).astype(np.int32)
    C = I[:len(CI)].tolist()

    def pt(name):
        return I[SL[name]]

    def grp(name):
        return [I[s] for s in GR[name]]

    def ell(name, a_, b_, ang, col, th_=-1, a0=0.0, a1=360.0):
        cv2.ellipse(img, C[CI[name]], (max(1, int(round(a_ * ONE))), max(1, int(round(b_ * ONE)))),
                    ang, a0, a1, col, th_, _AA, SH)

    sk = ident.skin.tolist()
    s0, s1, s2 = sk
    skin = (s0, s1, s2)

    def dark(t):                                     # creases darken the local skin tone
        t = 1.0 - 0.72 * (0.0 if t < 0.0 else (1.0 if t > 1.0 else t))
        return (s0 * t, s1 * t, s2 * t)

    def light(t):
        t = 0.0 if t < 0.0 else (1.0 if t > 1.0 else t)
        return (s0 + (255.0 - s0) * t, s1 + (255.0 - s1) * t, s2 + (255.0 - s2) * t)

    mask = np.full((size, size), 255, np.uint8)      # 0 where the person is drawn
    fill, lines = cv2.fillPoly, cv2.polylines

    # --- hair behind the head, neck, clothes, ears ---------------------------------------
    hc = ident.hair_colour.tolist()
    if "hair_back" in SL:
        fill(img, [pt("hair_back_s")], _mul(hc, 0.8), _AA, SH)
        fill(mask, [pt("hair_back")], 0, _L8, SH)
    elif hair_style == "bun":
        ell("bun", 0.35 * u, 0.28 * u, 0.0, _mul(hc, 0.85))
    skin86 = _mul(skin, 0.6)                       # the neck in the chin's shadow
    fill(img, [pt("neck")], skin86, _AA, SH)
    fill(mask, [pt("neck")], 0, _L8, SH)
    fill(img, [pt("shoulders_s")], tuple(ident.clothes.tolist()), _AA, SH)
    fill(mask, [pt("shoulders")], 0, _L8, SH)
    fill(img, [pt("neck_base")], skin86, _AA, SH)
    skin9, skin7 = _mul(skin, 0.9), _mul(skin, 0.7)
    for side in ("ear_l", "ear_r"):
        ear = [pt(side)]
        fill(img, ear, skin9, _AA, SH)
        lines(img, [pt(side + "_in")], False, skin7, t1, _AA, SH)
        fill(mask, ear, 0, _L8, SH)

    # --- skin ------------------------------------------------------------------------------
    face = [pt("face")]
    fill(img, face, skin, _AA, SH)
    fill(mask, face, 0, _L8, SH)

    # the shadow along the jaw line (a face detector's HOG template relies on it)
    lines(img, [pt("jaw")], False, dark(0.45), _t(th * 1.5), _AA, SH)
    # cheeks: bulge raised by AU6 (and AU12), crescent furrow below (FG-Net AU6 ROI region)
    k6 = min(max(A[_I6] + 0.45 * A[_I12], 0.0), 1.0)
    for k in (0, 1):
        ell(f"cheek{k}", 0.26 * u, 0.18 * u, ANG, light(0.03 + 0.05 * k6))
        ell(f"cheek{k}_hi", 0.16 * u, 0.10 * u, ANG, light(0.05 + 0.09 * k6))
        if k6 > 0.02:
            ell(f"cheek{k}_furrow", 0.22 * u, 0.14 * u, ANG, dark(0.5 * k6), t1, 25.0, 155.0)
    # lower-lid furrow (AU6, AU7)
    kl = min(max(A[_I6] * 0.8 + A[_I7] * 0.5 + 0.15 * ident.age, 0.0), 1.0)
    if kl > 0.03:
        lines(img, grp("lid_furrow"), False, dark(0.45 * kl), t1, _AA, SH)
    # crow's feet (AU6)
    if kc > 0.04:
        lines(img, grp("crow"), False, dark(0.55 * kc), t1, _AA, SH)
    # forehead wrinkles: central (AU1) and lateral (AU2)
    k1 = min(max(A[_I1] + 0.2 * ident.age, 0.0), 1.0)
    k2 = min(max(A[_I2] + 0.2 * ident.age, 0.0), 1.0)
    if k1 > 0.05:
        lines(img, grp("fh_central"), False, dark(0.5 * k1), t1, _AA, SH)
    if k2 > 0.05:
        lines(img, grp("fh_lateral"), False, dark(0.5 * k2), t1, _AA, SH)
    # glabella lines (AU4) and procerus line (AU4/AU9)
    if k4 > 0.04:
        lines(img, grp("glabella"), False, dark(0.6 * k4), t1, _AA, SH)
        lines(img, [pt("procerus")], False, dark(0.35 * k4), t1, _AA, SH)
    # nose-bridge wrinkles (AU9)
    k9 = A[_I9]
    if k9 > 0.04:
        lines(img, grp("nose_wrinkles"), False, dark(0.6 * k9), t1, _AA, SH)
    # nasolabial folds (AU12 mostly, AU10, AU9, age)
    kn = min(max(0.12 + 0.3 * ident.age + 0.75 * A[_I12] + 0.5 * A[_I10] + 0.35 * A[_I9] +
                 0.15 * A[_I6], 0.0), 1.0)
    lines(img, grp("nasolabial"), False, dark(0.5 * kn), _t(th * (1.5 if kn > 0.6 else 1)), _AA, SH)
    # dimples (AU14): a crescent beyond each tightened corner, the corner itself shadowed
    a14 = A[_I14]
    if a14 > 0.04:
        for corner, s in ((48, -1), (54, 1)):
            ell(f"dimple{corner}", 0.05 * u, 0.11 * u, ANG, dark(0.8 * a14), _t(th * 2),
                90 + 90 * s - 75, 90 + 90 * s + 75)
            ell(f"corner{corner}", 0.045 * u, 0.04 * u, 0.0, dark(0.35 * a14))
    # lines below the lip corners (AU15)
    if A[_I15] > 0.04:
        lines(img, grp("au15"), False, dark(0.55 * A[_I15]), t1, _AA, SH)
    # chin boss (AU17): bulge, dimpled skin, mentolabial furrow (AU17, AU24)
    k17 = A[_I17]
    ell("chin_boss", 0.2 * u, 0.11 * u, ANG, light(0.04 + 0.14 * k17))
    if k17 > 0.04:
        dk = dark(0.5 * k17)
        for j in range(5):
            ell(f"chin_dot{j}", 0.018 * u + 0.4, 0.014 * u + 0.4, 0.0, dk)
    km = min(max(0.1 + 0.6 * k17 + 0.4 * A[_I24], 0.0), 1.0)
    ell("mentolabial", 0.13 * u, 0.035 * u, ANG, dark(0.45 * km), t1, 200.0, 340.0)
    # eye sockets (dark enough for a face detector to see the eye region as real faces show it)
    d12 = dark(0.7)
    ell("socket0", 0.23 * u, 0.13 * u, ANG, d12)
    ell("socket1", 0.23 * u, 0.13 * u, ANG, d12)

    # --- eyes --------------------------------------------------------------------------------
    iris_r = 0.075 * u
    iris = tuple(ident.iris.tolist())
    kcrease = 0.3 * (1 - A[_I5]) * (1 - 0.5 * A[_I7])
    for k, (i1, i2, i4, i5) in enumerate(((37, 38, 40, 41), (43, 44, 46, 47))):
        fill(img, [pt(f"eye{k}")], (235, 232, 226), _AA, SH)
        cx, cy = (F[CI[f"iris{k}"]] * (1.0 / ONE)).tolist()
        # the iris is squeezed to the lid opening instead of clipped (cheap, same look)
        top = (P[i1, 1] + P[i2, 1]) / 2
        bot = (P[i4, 1] + P[i5, 1]) / 2
        ry = min(iris_r, max(0.5, (bot - top) / 2))
        cy = min(max(cy, top + ry), bot - ry) if bot - top > 2 * ry else (top + bot) / 2
        _ell(img, (int(round(cx * ONE)), int(round(cy * ONE))), iris_r, ry, ANG, iris)
        _ell(img, (int(round(cx * ONE)), int(round(cy * ONE))), iris_r * 0.45, min(iris_r * 0.45, ry),
             ANG, (15, 12, 12))
        _ell(img, (int(round((cx - 0.25 * iris_r) * ONE)), int(round((cy - 0.3 * ry) * ONE))),
             iris_r * 0.18, iris_r * 0.18, 0.0, (250, 250, 250))
        lines(img, [pt(f"lid_up{k}")], False, (25, 18, 16), _t(th * 1.4), _AA, SH)
        lines(img, [pt(f"lid_low{k}")], False, dark(0.35), _t(th * 0.8), _AA, SH)
        if kcrease > 0.03:
            lines(img, [pt(f"lid_crease{k}")], False, dark(kcrease), t1, _AA, SH)

    # --- brows -------------------------------------------------------------------------------
    brow = tuple(ident.brow_colour.tolist())
    fill(img, [pt("brow0")], brow, _AA, SH)
    fill(img, [pt("brow1")], brow, _AA, SH)

    # --- nose --------------------------------------------------------------------------------
    side = -1 if cap.light[0] > 0 else 1
    lines(img, [pt(f"nose_side{side}")], False, dark(0.6), t1, _AA, SH)
    ell("nose_tip", 0.06 * u, 0.045 * u, 0.0, light(0.25))
    ell("nostril32", 0.04 * u, 0.022 * u, ANG - 20, (60, 35, 30))
    ell("nostril34", 0.04 * u, 0.022 * u, ANG + 20, (60, 35, 30))
    d35 = dark(0.35)
    ell("nostril31", 0.06 * u, 0.07 * u, ANG, d35, t1, 190.0, 190.0)
    ell("nostril35", 0.06 * u, 0.07 * u, ANG, d35, t1, -10.0, 150.0)
    lines(img, [pt("nose_base")], False, dark(0.2), t1, _AA, SH)

    # --- mouth -------------------------------------------------------------------------------
    if gap > 0.012 * u:
        mo = F[SL["mouth"]] * (1.0 / ONE)
        (mx0, my0), (mx1, my1) = np.floor(mo.min(0)).tolist(), np.ceil(mo.max(0)).tolist()
        mx0, my0 = max(int(mx0) - 1, 0), max(int(my0) - 1, 0)
        mx1, my1 = min(int(mx1) + 2, size), min(int(my1) + 2, size)
        if mx1 - mx0 >= 2 and my1 - my0 >= 2:        # the cavity, clipped to the lip opening
            roi = img[my0:my1, mx0:mx1]
            tmp = np.empty_like(roi)
            tmp[:] = (70, 22, 28)
            off = np.array([mx0 << SH, my0 << SH], np.int32)
            fill(tmp, [pt("teeth_up") - off], (238, 236, 225), _AA, SH)
            if gap > 0.12 * u:
                fill(tmp, [pt("teeth_low") - off], (225, 222, 210), _AA, SH)
            mm = np.zeros(roi.shape[:2], np.uint8)
            fill(mm, [pt("mouth") - off], 255, _L8, SH)
            cv2.copyTo(tmp, mm, roi)
    k_thin = min(max(A[_I23] * 0.5 + A[_I24] * 0.5, 0.0), 1.0)
    lt = 0.55 * k_thin
    lp = ident.lip.tolist()
    lipc = (lp[0] + (s0 - lp[0]) * lt, lp[1] + (s1 - lp[1]) * lt, lp[2] + (s2 - lp[2]) * lt)
    fill(img, [pt("lip_up")], _mul(lipc, 0.92), _AA, SH)
    fill(img, [pt("lip_low")], lipc, _AA, SH)
    lines(img, [pt("lip_line")], False, _mul(lipc, 0.55), t1, _AA, SH)
    if A[_I24] > 0.05:     # bulge below the pressed lower lip
        lines(img, [pt("au24")], False, light(0.25 * A[_I24]), t1, _AA, SH)

    # --- beard, moustache ----------------------------------------------------------------------
    if "beard" in SL or "moustache" in SL:
        bb = np.vstack([P[2:15], P[31:36]])
        (bx0, by0), (bx1, by1) = np.floor(bb.min(0)).tolist(), np.ceil(bb.max(0)).tolist()
        bx0, by0 = max(int(bx0) - 2, 0), max(int(by0) - 2, 0)
        bx1, by1 = min(int(bx1) + 2, size), min(int(by1) + 2, size)
        if bx1 - bx0 > 2 and by1 - by0 > 2:
            roi = img[by0:by1, bx0:bx1]
            tmp = roi.copy()
            off = np.array([bx0 << SH, by0 << SH], np.int32)
            hct = tuple(hc)
            if "beard" in SL:
                fill(tmp, [pt("beard") - off], hct, _AA, SH)
            if "moustache" in SL:
                fill(tmp, [pt("moustache") - off], hct, _AA, SH)
            alpha = 0.2 if ident.beard == "stubble" else 0.7
            cv2.addWeighted(tmp, alpha, roi, 1 - alpha, 0, dst=roi)

    # --- hair on top ---------------------------------------------------------------------------
    if "hair_cap" in SL:
        hcap = [pt("hair_cap")]
        fill(img, hcap, tuple(hc), _AA, SH)
        fill(mask, hcap, 0, _L8, SH)
        lines(img, [pt("hairline")], False, _mul(hc, 0.7), t1, _AA, SH)

    # --- shading -----------------------------------------------------------------------------
    img = _shade(img, mask, P, u, (exx, exy), (eyx, eyy), cap, bg)

    # --- glasses -----------------------------------------------------------------------------
    if ident.glasses != "none":
        # thin rims, their colour three quarters of the way to the (shaded) skin: thin frames as a
        # 128-px photo shows them, not bold outlines that hide the eyes from a face detector
        gcol = ident.glasses_colour.tolist()
        gc = (gcol[0] * 0.25 + s0 * 0.6, gcol[1] * 0.25 + s1 * 0.6, gcol[2] * 0.25 + s2 * 0.6)
        gth = 1
        if ident.glasses == "round":
            ell("glass0", 0.2 * u, 0.17 * u, ANG, gc, gth)
            ell("glass1", 0.2 * u, 0.17 * u, ANG, gc, gth)
        else:
            lines(img, grp("glass_rims"), True, gc, gth, _AA, SH)
        lines(img, grp("glass_bars"), False, gc, gth, _AA, SH)

    # --- occluder ----------------------------------------------------------------------------
    if cap.occluder is not None:
        ex, ey = np.array([exx, exy]), np.array([eyx, eyy])
        kind, ox, oy, rx, ry, ang, col = cap.occluder
        c = (P[0] + P[16]) / 2 + (ex * ox + ey * oy) * u
        if kind == "band":
            _line(img, np.array([c - ex * 1.2 * u, c + ex * 1.2 * u]), col, max(2, ry * u * 0.6))
        else:
            _ellipse(img, c, (rx * u, ry * u), ang, col)
            if kind == "hand":
                for k in range(-1, 3):
                    _line(img, np.array([c + ex * k * 0.12 * u - ey * ry * 0.5 * u,
                                         c + ex * k * 0.12 * u + ey * ry * 0.8 * u]),
                          np.asarray(col) * 0.75, th)
    if dom.exposure > 0:
        cap = _expose(img, P, cap, dom.exposure)
    return _post(img, cap, size)


@lru_cache(maxsize=8)
def _grid(n: int, size: int) -> np.ndarray:
    return (np.arange(n, dtype=np.float32) + 0.5) * (size / n) - 0.5


def _shade(img, mask, P, u, ex, ey, cap, bg=None):
    """Lambertian shading of everything drawn where ``mask`` is 0 from a head-ellipsoid
    normal map (computed at a quarter of the resolution, applied in uint8 fixed point;
    pixels where ``mask`` is 255 are restored from ``bg``)."""
    size = img.shape[0]
    n = max(16, size // 4)
    g = _grid(n, size)
    gx = g - np.float32((P[0, 0] + P[16, 0]) / 2 + ey[0] * 0.05 * u)
    gy = g - np.float32((P[0, 1] + P[16, 1]) / 2 + ey[1] * 0.05 * u)
    # face-frame coordinates: separable sums of a column term and a row term
    sx, sy = 1.0 / (1.15 * u), 1.0 / (1.55 * u)
    nx = (gx * np.float32(ex[0] * sx))[None, :] + (gy * np.float32(ex[1] * sx))[:, None]
    ny = (gx * np.float32(ey[0] * sy))[None, :] + (gy * np.float32(ey[1] * sy))[:, None]
    r2 = nx * nx
    r2 += ny * ny
    nz = np.maximum(1.0 - r2, 0.0)                  # normal (nx, ny, nz) / max(1, |r|)
    np.sqrt(nz, out=nz)
    lx, ly, lz = cap.light
    lam = nx * np.float32(lx * ex[0] + ly * ex[1])
    lam += ny * np.float32(lx * ey[0] + ly * ey[1])
    lam += nz * np.float32(lz)
    np.maximum(r2, 1.0, out=r2)
    np.sqrt(r2, out=r2)
    lam /= r2
    np.maximum(lam, 0.0, out=lam)
    np.minimum(lam, 1.0, out=lam)
    lam *= np.float32(cap.diffuse * 128.0)
    lam += np.float32(cap.ambient * 128.0)
    np.minimum(np.maximum(lam, 0.0, out=lam), 255.0, out=lam)
    shade = cv2.resize(lam.astype(np.uint8), (size, size), interpolation=cv2.INTER_LINEAR)
    out = cv2.multiply(img, cv2.merge([shade, shade, shade]), scale=1 / 128.0)
    if bg is not None:
        cv2.copyTo(bg, mask, out)
    return out


@lru_cache(maxsize=64)
def _gain_lut(g0: float, g1: float, g2: float) -> np.ndarray:
    lut = np.arange(256, dtype=np.float64)[:, None] * (g0, g1, g2)
    return np.clip(np.rint(lut), 0, 255).astype(np.uint8).reshape(1, 256, 3)


@lru_cache(maxsize=16)
def _vignette_u8(size: int, strength: float) -> np.ndarray:
    v = np.clip((1.0 - strength * (1.0 - _vignette(size))) * 128, 0, 255).astype(np.uint8)
    return np.repeat(v, 3, 2)


def _expose(img, P, cap, target):
    """Face-priority auto-exposure: scale the capture's channel gains so that the mean of the
    inner face (the box of landmarks 17-67) lands at ``target`` (0-255 luminance)."""
    size = img.shape[0]
    q = P[17:68]
    x0, y0 = np.clip(np.floor(q.min(0)).astype(int), 0, size - 1)
    x1, y1 = np.clip(np.ceil(q.max(0)).astype(int) + 1, 1, size)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return cap
    m = cv2.mean(img[y0:y1, x0:x1])
    g = cap.gain
    lum = 0.299 * m[0] * g[0] + 0.587 * m[1] * g[1] + 0.114 * m[2] * g[2]
    k = round(min(max(target / max(lum, 1.0), 0.8), 3.0) * 32) / 32     # few distinct gain tables
    return replace(cap, gain=(g[0] * k, g[1] * k, g[2] * k))


def _post(img, cap, size):
    """Capture degradations: colour cast, vignette, blur, sensor noise (JPEG at encode)."""
    g = cap.gain
    if abs(g[0] - 1) + abs(g[1] - 1) + abs(g[2] - 1) > 1e-3:   # per-channel gain as a table
        img = cv2.LUT(img, _gain_lut(g[0], g[1], g[2]))
    if cap.vignette > 0:
        img = cv2.multiply(img, _vignette_u8(size, float(cap.vignette)), scale=1 / 128.0)
    if cap.blur > 0.05:
        img = _gauss(img, cap.blur * size / 128.0)
    if cap.noise > 0.5:
        bank = _noise_bank(size)
        o = (cap.bg_seed * 7919) % size, (cap.bg_seed * 104729) % size
        img = cv2.addWeighted(img, 1.0, bank[o[0]:o[0] + size, o[1]:o[1] + size], float(cap.noise),
                              0.0, dtype=cv2.CV_8U)
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
