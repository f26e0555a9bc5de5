"""SynthAU's face as a linear 3D model: mean shape + identity basis + AU displacement fields,
posed and projected with a perspective camera.

Points: the 68 iBUG/dlib landmarks (0-based, image-left = subject's right), then extra
points the renderer needs (skull outline, hairline, cheeks, nasolabial folds, glabella, chin
boss, ears), :data:`EXTRA` names them. Model units: half the face width is 1, x to the
image right, y down, z towards the camera; the eyes sit near y = -0.35 and the chin at
y = 1.1. The shape of one face is

    S = MEAN + sum_k c_k * ID_BASIS[k] + sum_a (I_a / 5) * AU_FIELDS[a]

with c_k the identity coefficients (about N(0, 1)) and I_a the AU intensities (0-5). Its
head pose (yaw, pitch, roll in degrees) rotates S about a pivot behind the nose; a pinhole
camera at distance ``d`` (in model units, focal length d so that z = 0 has unit scale)
projects it. Everything is vectorised over frames.
"""
from __future__ import annotations

import numpy as np

from .catalogue import AUS

N68 = 68

# ------------------------------------------------------------------------------------------
# mean shape (hand-built; image-left half, mirrored)
_JAW_L = [(-1.00, -0.30, -0.40), (-0.99, -0.06, -0.33), (-0.96, 0.18, -0.25),
          (-0.89, 0.41, -0.15), (-0.77, 0.62, -0.03), (-0.61, 0.80, 0.10),
          (-0.42, 0.95, 0.22), (-0.22, 1.06, 0.31)]
_CHIN = (0.0, 1.10, 0.34)
_BROW_L = [(-0.80, -0.58), (-0.64, -0.70), (-0.45, -0.73), (-0.27, -0.70), (-0.11, -0.63)]
_NOSE_BRIDGE = [(0.0, -0.45, 0.05), (0.0, -0.26, 0.13), (0.0, -0.07, 0.22), (0.0, 0.12, 0.33)]
_NOSE_BASE = [(-0.19, 0.24, 0.07), (-0.10, 0.28, 0.13), (0.0, 0.30, 0.17)]
_EYE_L = [(-0.66, -0.36), (-0.56, -0.43), (-0.42, -0.43), (-0.32, -0.35), (-0.42, -0.30),
          (-0.56, -0.30)]
_LIP_OUT_L = [(-0.36, 0.62), (-0.23, 0.555), (-0.09, 0.515), (0.0, 0.53)]      # 48..51
_LIP_LOW_L = [(-0.11, 0.75), (-0.24, 0.715)]                                      # 58, 59
_LIP_IN = [(-0.29, 0.62), (-0.10, 0.612), (0.0, 0.615)]                           # 60..62

EXTRA = {}


def _surface_z(x, y):
    """Depth of the face surface (an ellipsoid cap) at model (x, y)."""
    r = 1.0 - (x / 1.12) ** 2 - ((y - 0.1) / 1.6) ** 2
    return 0.62 * np.sqrt(np.clip(r, 0.0, None)) - 0.12


def _build_mean() -> np.ndarray:
    p = np.zeros((N68, 3))
    for i, v in enumerate(_JAW_L):
        p[i] = v
        p[16 - i] = (-v[0], v[1], v[2])
    p[8] = _CHIN
    for i, (x, y) in enumerate(_BROW_L):
        z = _surface_z(x, y) + 0.06
        p[17 + i] = (x, y, z)
        p[26 - i] = (-x, y, z)
    for i, v in enumerate(_NOSE_BRIDGE):
        p[27 + i] = (v[0], v[1], _surface_z(0, v[1]) + v[2])
    for i, (x, y, dz) in enumerate(_NOSE_BASE):
        z = _surface_z(x, y) + dz
        p[31 + i] = (x, y, z)
        p[35 - i] = (-x, y, z)
    for i, (x, y) in enumerate(_EYE_L):
        z = _surface_z(x, y) - 0.04
        p[36 + i] = (x, y, z)
    # right eye: 42 inner, 43, 44 upper, 45 outer, 46, 47 lower (mirror of 39, 38, 37, 36, 41, 40)
    for j, src in zip(range(42, 48), (39, 38, 37, 36, 41, 40)):
        p[j] = (-p[src, 0], p[src, 1], p[src, 2])
    for i, (x, y) in enumerate(_LIP_OUT_L):       # 48..51, mirrored to 54..51
        z = _surface_z(x, y) + 0.05
        p[48 + i] = (x, y, z)
        p[54 - i] = (-x, y, z)
    p[57] = (0.0, 0.76, _surface_z(0, 0.76) + 0.05)
    for x, y in [_LIP_LOW_L[0]]:
        p[58] = (x, y, _surface_z(x, y) + 0.05)
        p[56] = (-x, y, _surface_z(x, y) + 0.05)
    x, y = _LIP_LOW_L[1]
    p[59] = (x, y, _surface_z(x, y) + 0.05)
    p[55] = (-x, y, _surface_z(x, y) + 0.05)
    for i, (x, y) in enumerate(_LIP_IN):          # 60, 61, 62 -> 64, 63 mirrored
        z = _surface_z(x, y) + 0.03
        p[60 + i] = (x, y, z)
        p[64 - i] = (-x, y, z)
    # lower inner lip (65, 66, 67) coincides with the upper inner lip when the mouth is shut
    p[65], p[66], p[67] = p[63] + (0, 0.004, 0), p[62] + (0, 0.004, 0), p[61] + (0, 0.004, 0)

    extra = []

    def add(name, pts):
        EXTRA[name] = list(range(N68 + len(extra), N68 + len(extra) + len(pts)))
        extra.extend(pts)

    ang = np.linspace(np.pi * 0.97, np.pi * 0.03, 13)
    add("skull", [(np.cos(a) * -1.0 * -1, -0.30 - np.sin(a) * 1.28, -0.15 - 0.25 * abs(np.cos(a)))
                  for a in ang[::-1]][::-1])
    ang = np.linspace(np.pi * 0.95, np.pi * 0.05, 9)
    add("hairline", [(np.cos(a) * 0.90, -0.42 - np.sin(a) * 0.66,
                      _surface_z(np.cos(a) * 0.9, -0.42 - np.sin(a) * 0.66)) for a in ang])
    add("cheeks", [(-0.50, 0.30, _surface_z(-0.5, 0.3) + 0.04), (0.50, 0.30, _surface_z(0.5, 0.3) + 0.04)])
    nl = [(-0.22, 0.17), (-0.34, 0.42), (-0.43, 0.68)]
    add("nasolabial_l", [(x, y, _surface_z(x, y)) for x, y in nl])
    add("nasolabial_r", [(-x, y, _surface_z(x, y)) for x, y in nl])
    add("glabella", [(0.0, -0.56, _surface_z(0, -0.56) + 0.03)])
    add("chin_boss", [(0.0, 0.95, _surface_z(0, 0.95) + 0.12)])
    ear = [(-0.97, -0.45, -0.55), (-1.12, -0.25, -0.60), (-1.10, 0.02, -0.55), (-0.97, 0.14, -0.50)]
    add("ear_l", ear)
    add("ear_r", [(-x, y, z) for x, y, z in ear])
    add("forehead", [(x, y, _surface_z(x, y)) for y in (-0.86, -0.95, -1.04)
                     for x in (-0.62, -0.31, 0.0, 0.31, 0.62)])
    add("neck", [(-0.52, 0.85, -0.45), (-0.56, 1.75, -0.45), (0.56, 1.75, -0.45), (0.52, 0.85, -0.45)])
    return np.concatenate([p, np.asarray(extra, float)], 0)


MEAN = _build_mean()
N_POINTS = len(MEAN)
_NOT_ROTATED = np.zeros(N_POINTS, bool)
# the neck's base stays upright when the head turns (its top turns with the head)
_NECK_TOP = [EXTRA["neck"][0], EXTRA["neck"][3]]
_NECK_BASE = [EXTRA["neck"][1], EXTRA["neck"][2]]
_NOT_ROTATED[_NECK_BASE] = True
PIVOT = np.array([0.0, 0.25, -0.55])
_MIRROR = np.array([-1.0, 1.0, 1.0])


def _mirror_index(i: int) -> int:
    """Index of the point mirrored across the face midline (itself for midline points)."""
    x, y, z = MEAN[i]
    d = np.linalg.norm(MEAN - (-x, y, z), axis=1)
    return int(np.argmin(d))


_MIRROR_IDX = np.array([_mirror_index(i) for i in range(N_POINTS)])


def _field(spec: dict) -> np.ndarray:
    """Displacement field (N_POINTS, 3) from {index: (dx, dy[, dz])} given for the
    image-left side (and midline); mirrored to the other side (x negated)."""
    f = np.zeros((N_POINTS, 3))
    for i, d in spec.items():
        d = np.array(tuple(d) + (0.0,) * (3 - len(d)), float)
        f[i] = d
        j = _MIRROR_IDX[i]
        if j != i:
            f[j] = d * _MIRROR
    return f


E = EXTRA
# ------------------------------------------------------------------------------------------
# AU displacement fields at intensity 5 (FACS "E"). Image-left side given, mirrored.
_AU_SPECS = {
    "AU1": {21: (0.0, -0.17), 20: (0.0, -0.12), 19: (0.0, -0.05),
            **{E["forehead"][r * 5 + c]: (0.0, -0.03) for r in range(3) for c in (1, 2)}},
    "AU2": {17: (0.0, -0.17), 18: (0.0, -0.14), 19: (0.0, -0.07),
            **{E["forehead"][r * 5 + c]: (0.0, -0.035) for r in range(3) for c in (0,)}},
    "AU4": {17: (0.02, 0.05), 18: (0.035, 0.08), 19: (0.05, 0.10), 20: (0.07, 0.12),
            21: (0.09, 0.12), E["glabella"][0]: (0.0, 0.04)},
    "AU5": {37: (0.0, -0.065), 38: (0.0, -0.065)},
    "AU6": {40: (0.0, -0.045), 41: (0.0, -0.05), E["cheeks"][0]: (0.02, -0.11, 0.05),
            E["nasolabial_l"][1]: (-0.02, -0.03), E["nasolabial_l"][2]: (-0.02, -0.02)},
    "AU7": {37: (0.0, 0.02), 38: (0.0, 0.02), 40: (0.0, -0.06), 41: (0.0, -0.055)},
    "AU9": {31: (0.0, -0.06), 32: (0.0, -0.05), 33: (0.0, -0.04), 20: (0.02, 0.04),
            21: (0.02, 0.06), 49: (0.0, -0.025), 50: (0.0, -0.03), 51: (0.0, -0.03),
            E["nasolabial_l"][0]: (0.0, -0.05), E["nasolabial_l"][1]: (-0.01, -0.03),
            E["glabella"][0]: (0.0, 0.03)},
    "AU10": {31: (-0.01, -0.03), 49: (0.0, -0.06), 50: (0.0, -0.09), 51: (0.0, -0.09),
             61: (0.0, -0.08), 62: (0.0, -0.085), E["nasolabial_l"][0]: (-0.01, -0.03),
             E["nasolabial_l"][1]: (-0.02, -0.04)},
    "AU12": {48: (-0.11, -0.11), 60: (-0.10, -0.095), 49: (-0.04, -0.05), 59: (-0.05, -0.07),
             58: (-0.015, -0.03), 61: (-0.03, -0.02), 67: (-0.03, -0.045),
             E["nasolabial_l"][1]: (-0.05, -0.04), E["nasolabial_l"][2]: (-0.07, -0.07),
             E["cheeks"][0]: (-0.01, -0.05, 0.03)},
    "AU14": {48: (0.06, -0.01, -0.06), 60: (0.05, -0.01, -0.05)},
    "AU15": {48: (0.0, 0.12), 60: (0.0, 0.10), 59: (0.0, 0.045), 49: (0.0, 0.035)},
    "AU17": {7: (0.0, -0.06), 8: (0.0, -0.07), 6: (0.0, -0.035), 57: (0.0, -0.06),
             58: (0.0, -0.055), 59: (0.0, -0.03), 48: (0.0, 0.02), E["chin_boss"][0]: (0.0, -0.09, 0.05)},
    "AU20": {48: (-0.13, 0.03), 60: (-0.12, 0.025), 49: (-0.05, 0.0), 59: (-0.055, 0.0)},
    "AU23": {48: (0.05, 0.0), 49: (0.025, 0.015), 50: (0.0, 0.025), 51: (0.0, 0.025),
             59: (0.025, -0.02), 58: (0.0, -0.03), 57: (0.0, -0.03)},
    "AU24": {49: (0.0, 0.03), 50: (0.0, 0.04), 51: (0.0, 0.04), 59: (0.0, -0.03),
             58: (0.0, -0.045), 57: (0.0, -0.045)},
    "AU25": {61: (0.0, -0.02), 62: (0.0, -0.02), 67: (0.0, 0.075), 66: (0.0, 0.085),
             49: (0.0, -0.012), 50: (0.0, -0.015), 51: (0.0, -0.015), 59: (0.0, 0.05),
             58: (0.0, 0.065), 57: (0.0, 0.07)},
    "AU26": {8: (0.0, 0.26), 7: (0.0, 0.23), 6: (0.0, 0.17), 5: (0.0, 0.10), 4: (0.0, 0.04),
             57: (0.0, 0.17), 58: (0.0, 0.165), 59: (0.0, 0.12), 66: (0.0, 0.17),
             67: (0.0, 0.14), 48: (0.01, 0.05), 60: (0.01, 0.05),
             E["chin_boss"][0]: (0.0, 0.24)},
}
AU_FIELDS = np.stack([_field(_AU_SPECS[a]) for a in AUS])          # (n_AU, P, 3)
AU_INDEX = {a: i for i, a in enumerate(AUS)}


# ------------------------------------------------------------------------------------------
# identity basis: each component is a displacement per unit coefficient
def _identity_basis() -> tuple[list[str], np.ndarray]:
    m = MEAN
    x, y = m[:, 0], m[:, 1]
    comps = {}
    all_ = np.ones(N_POINTS, bool)
    lower = y > -0.3
    eyes = np.zeros(N_POINTS, bool)
    eyes[36:48] = True
    brows = np.zeros(N_POINTS, bool)
    brows[17:27] = True
    nose_base = np.zeros(N_POINTS, bool)
    nose_base[30:36] = True
    lips = np.zeros(N_POINTS, bool)
    lips[48:68] = True
    skull = np.zeros(N_POINTS, bool)
    skull[E["skull"] + E["hairline"]] = True

    def comp(name, dx=0.0, dy=0.0, dz=0.0):
        f = np.zeros((N_POINTS, 3))
        f[:, 0], f[:, 1], f[:, 2] = dx, dy, dz
        f[_NOT_ROTATED] = 0.0
        comps[name] = f

    comp("face_width", dx=0.07 * x * all_)
    comp("face_length", dy=0.07 * (y + 0.3) * lower)
    comp("jaw_width", dx=0.08 * x * np.clip((y - 0.1) / 1.0, 0, 1) * (np.arange(N_POINTS) < 17))
    comp("chin_length", dy=0.05 * np.clip((y - 0.6) / 0.5, 0, 1) * (np.arange(N_POINTS) < 17))
    eye_c = np.where(x < 0, -0.49, 0.49)
    comp("eye_size", dx=0.10 * (x - eye_c) * eyes, dy=0.16 * (y + 0.365) * eyes)
    comp("eye_spacing", dx=0.035 * np.sign(x) * (eyes | brows))
    comp("eye_height", dy=0.03 * (eyes | brows))
    comp("brow_height", dy=-0.035 * brows)
    arch = np.zeros(N_POINTS)
    arch[[19, 24]], arch[[17, 26]] = -0.03, 0.015
    comp("brow_arch", dy=arch)
    slant = np.zeros(N_POINTS)
    slant[[17, 26]], slant[[18, 25]] = 0.035, 0.018
    comp("brow_slant", dy=slant)
    comp("nose_length", dy=0.05 * nose_base)
    nw = np.zeros(N_POINTS)
    nw[[31, 32, 34, 35]] = x[[31, 32, 34, 35]] * 0.16
    comp("nose_width", dx=nw)
    comp("mouth_width", dx=0.10 * x * lips)
    ul = np.zeros(N_POINTS)
    ul[49:54] = -0.02
    comp("upper_lip", dy=ul)
    ll = np.zeros(N_POINTS)
    ll[55:60] = 0.028
    comp("lower_lip", dy=ll)
    comp("mouth_height", dy=0.03 * lips)
    comp("forehead", dy=-0.07 * skull * np.clip(-(y + 0.3), 0, None))
    tilt = np.zeros(N_POINTS)
    tilt[[36, 45]] = -0.02
    tilt[[37, 44]] = -0.008
    comp("eye_tilt", dy=tilt)
    comp("nose_depth", dz=0.08 * (np.isin(np.arange(N_POINTS), [28, 29, 30, 33])))
    names = list(comps)
    return names, np.stack([comps[n] for n in names])


ID_NAMES, ID_BASIS = _identity_basis()
N_ID = len(ID_NAMES)


def compose(id_coeffs: np.ndarray, au_intensity: np.ndarray, rest_offsets=None) -> np.ndarray:
    """3D shapes (F, P, 3) from identity coefficients (N_ID,) and AU intensities (F, n_AU) on
    FACS's 0-5 scale. ``rest_offsets`` (n_AU,) adds a person's resting-face bias that is
    not an AU (no label) - it looks like a weak AU, as in real faces."""
    au = np.atleast_2d(np.asarray(au_intensity, float)) / 5.0
    if rest_offsets is not None:
        au = au + np.asarray(rest_offsets, float)[None] / 5.0
    base = MEAN + np.tensordot(np.asarray(id_coeffs, float), ID_BASIS, axes=(0, 0))
    # einsum, not tensordot: a (frames x AUs) GEMM would go to a multi-threaded BLAS, which
    # stalls for milliseconds on a busy machine (and inside each rendering worker)
    s = base[None] + np.einsum("fa,apc->fpc", au, AU_FIELDS)
    # the lips cannot pass through each other: inner lower lip stays below inner upper lip
    for up, lo in ((61, 67), (62, 66), (63, 65)):
        s[:, lo, 1] = np.maximum(s[:, lo, 1], s[:, up, 1] + 0.002)
    return s


def rotation(yaw, pitch, roll) -> np.ndarray:
    """Rotation matrices (F, 3, 3) from angles in degrees (R = Rz(roll) Rx(pitch) Ry(yaw)).

    Positive yaw turns the face towards the image right, positive pitch tilts the chin up,
    positive roll rotates clockwise in the image."""
    y, p, r = (np.deg2rad(np.atleast_1d(np.asarray(a, float))) for a in (yaw, pitch, roll))
    cy, sy, cp, sp, cr, sr = np.cos(y), np.sin(y), np.cos(p), np.sin(p), np.cos(r), np.sin(r)
    o, z = np.ones_like(cy), np.zeros_like(cy)
    ry = np.stack([np.stack([cy, z, sy], -1), np.stack([z, o, z], -1),
                   np.stack([-sy, z, cy], -1)], -2)
    rx = np.stack([np.stack([o, z, z], -1), np.stack([z, cp, sp], -1),
                   np.stack([z, -sp, cp], -1)], -2)
    rz = np.stack([np.stack([cr, -sr, z], -1), np.stack([sr, cr, z], -1),
                   np.stack([z, z, o], -1)], -2)
    return rz @ rx @ ry


def project(shapes: np.ndarray, yaw, pitch, roll, distance, scale, center) -> tuple[np.ndarray, np.ndarray]:
    """Pose and project shapes (F, P, 3) into pixels.

    ``distance`` (F,) camera distance in model units (perspective strength), ``scale`` (F,)
    pixels per model unit at the pivot depth, ``center`` (F, 2) pixel position of the pivot.
    Returns (points (F, P, 2) float32, depth (F, P) camera-facing z after rotation)."""
    shapes = np.asarray(shapes, float)
    f = shapes.shape[0]
    R = rotation(*(np.broadcast_to(np.asarray(a, float), (f,)) for a in (yaw, pitch, roll)))
    rel = shapes - PIVOT
    rot = np.einsum("fij,fpj->fpi", R, rel)
    rot[:, _NOT_ROTATED] = rel[:, _NOT_ROTATED]
    shift = (rot[:, _NECK_TOP, 0] - rel[:, _NECK_TOP, 0]).mean(1)
    rot[:, _NECK_BASE, 0] += 0.5 * shift[:, None]
    d = np.broadcast_to(np.asarray(distance, float), (f,))[:, None]
    persp = d / np.maximum(d - rot[..., 2], 0.5)
    s = np.broadcast_to(np.asarray(scale, float), (f,))[:, None]
    c = np.broadcast_to(np.asarray(center, float), (f, 2))
    pts = rot[..., :2] * (persp * s)[..., None] + c[:, None, :]
    return pts.astype(np.float32), rot[..., 2]
