"""Where an AU lives on a face: the one place that maps landmarks to AU regions.

- FG-Net: two ROI centres per AU and the signed Gaussian heatmaps built on them
  (``fgnet.md`` §1, from ihp-lab/FG-Net ``code/data_utils.py``; paper 000 Eq. 2).
- JAA-Net / ADLD: two AU centres per AU on the 49-point layout, shifted by fractions of the
  inner-eye-corner distance, and the predefined attention maps around them (methods.md A.6).
- PIAP-DF: predefined Pixel-Interest (PI) maps, binary masks per AU drawn from the 68
  landmarks. The paper gives their definition only as a drawing (paper 004, Figure 3, "Red
  points are facial landmarks indexed from 0 to 67"); the polygons in :data:`PI_REGIONS` are
  OUR reading of that figure and of FACS muscle regions, not the authors' exact masks.

All functions take landmarks as (68, 2) pixel coordinates (iBUG/dlib order, 0-based) in the
image the maps are drawn for; ``y`` grows downwards, so "below" means +y.
"""
from __future__ import annotations

import cv2
import numpy as np

from .align import LM68_TO_49

BP4D_AUS = ("AU1", "AU2", "AU4", "AU6", "AU7", "AU10", "AU12", "AU14", "AU15", "AU17",
            "AU23", "AU24")
DISFA_AUS = ("AU1", "AU2", "AU4", "AU6", "AU9", "AU12", "AU25", "AU26")

# --------------------------------------------------------------------------- FG-Net
# AU -> two centres; each centre is ("lm", i) a landmark, ("mean", a, b) the mean of
# landmarks a..b inclusive, followed by a downward shift in units of IOD = |lm42 - lm39|.
# fgnet.md §1 tables (BP4D and DISFA share AU1, AU2, AU4, AU6, AU12; AU17 is BP4D's,
# AU9/AU25/AU26 are DISFA's).
FGNET_ROI = {
    "AU1": ((("lm", 21), 0.0), (("lm", 22), 0.0)),
    "AU2": ((("lm", 17), 0.0), (("lm", 26), 0.0)),
    "AU4": ((("mean", 17, 21), 0.0), (("mean", 22, 26), 0.0)),
    "AU6": ((("mean", 36, 41), 1.0), (("mean", 42, 47), 1.0)),
    "AU7": ((("lm", 38), 0.0), (("lm", 43), 0.0)),
    "AU9": ((("lm", 39), 0.0), (("lm", 42), 0.0)),
    "AU10": ((("lm", 50), 0.0), (("lm", 52), 0.0)),
    "AU12": ((("lm", 48), 0.0), (("lm", 54), 0.0)),
    "AU14": ((("lm", 48), 0.0), (("lm", 54), 0.0)),
    "AU15": ((("lm", 48), 0.0), (("lm", 54), 0.0)),
    "AU17": ((("lm", 56), 0.5), (("lm", 58), 0.5)),
    "AU23": ((("lm", 51), 0.0), (("lm", 57), 0.0)),
    "AU24": ((("lm", 51), 0.0), (("lm", 57), 0.0)),
    "AU25": ((("lm", 51), 0.0), (("lm", 57), 0.0)),
    "AU26": ((("lm", 56), 0.0), (("lm", 58), 0.0)),
}
FGNET_SIGMA = 20.0      # in pixels of the 128 x 128 heatmap (fgnet.md §1, paper 000 §4)
FGNET_HEATMAP_SIZE = 128


def au_list(aus) -> tuple[str, ...]:
    """``"bp4d"`` / ``"disfa"`` / an iterable of AU names -> tuple of AU names."""
    if isinstance(aus, str):
        key = aus.lower().replace("synth-", "")
        if key in ("bp4d", "bp4dplus", "bp4d+"):
            return BP4D_AUS
        if key == "disfa":
            return DISFA_AUS
        raise ValueError(f"unknown AU set {aus!r}; use 'bp4d', 'disfa' or a list of AU names")
    return tuple(aus)


def _point(lm, spec):
    if spec[0] == "lm":
        return lm[spec[1]]
    return lm[spec[1]:spec[2] + 1].mean(0)


def fgnet_roi_centres(landmarks: np.ndarray, dataset="bp4d") -> np.ndarray:
    """FG-Net's two ROI centres per AU, ``(n_aus, 2, 2)`` as (x, y), in landmark coordinates.

    ``dataset`` picks the AU list ("bp4d": 12 AUs, "disfa": 8) or is a list of AU names.
    IOD (the shift unit) is the distance between landmarks 42 and 39 (inner eye corners).
    """
    lm = np.asarray(landmarks, np.float64)
    iod = float(np.hypot(*(lm[42] - lm[39])))
    out = []
    for au in au_list(dataset):
        if au not in FGNET_ROI:
            raise KeyError(f"FG-Net defines no ROI for {au}; known: {', '.join(FGNET_ROI)}")
        out.append([_point(lm, p) + np.array([0.0, shift * iod]) for p, shift in FGNET_ROI[au]])
    return np.asarray(out, np.float32)


def fgnet_heatmaps(centres: np.ndarray, labels, size: int = FGNET_HEATMAP_SIZE,
                   sigma: float = FGNET_SIGMA, threshold: float = 0.01) -> np.ndarray:
    """FG-Net's ground-truth heatmaps ``(n_aus, size, size)`` float32 in [-1, 1].

    ``centres`` are in heatmap pixels (FG-Net halves 256-px landmarks for its 128 map). Per
    AU and centre an isotropic Gaussian exp(-d^2 / 2 sigma^2) on the integer pixel grid,
    values below ``threshold`` set to 0 and above 1 capped to 1, added when the AU is active
    and subtracted when it is not; finally the map is clipped to [-1, 1] (fgnet.md §1). A
    label that is unknown (NaN) gives an all-zero channel.
    """
    centres = np.asarray(centres, np.float32)
    labels = np.asarray(labels, np.float32).reshape(-1)
    if len(labels) != len(centres):
        raise ValueError(f"{len(centres)} AU centre pairs but {len(labels)} labels")
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    maps = np.zeros((len(centres), size, size), np.float32)
    for k, (pair, lab) in enumerate(zip(centres, labels)):
        if not np.isfinite(lab):
            continue
        sign = 1.0 if lab > 0.5 else -1.0
        for cx, cy in pair:
            g = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma ** 2))
            g[g < threshold] = 0.0
            maps[k] += sign * np.minimum(g, 1.0)
    return np.clip(maps, -1.0, 1.0)


def heatmaps_to_aus(heatmaps: np.ndarray) -> np.ndarray:
    """FG-Net's decision rule: clamp to [-1, 1], mean over the map, active iff > 0."""
    h = np.clip(np.asarray(heatmaps, np.float32), -1, 1)
    return (h.mean(axis=(-2, -1)) > 0).astype(np.float32)


# ------------------------------------------------------------------- JAA-Net / ADLD
# AU -> (49-pt index pair, vertical shift in units of ruler = |x22 - x25| (49-pt inner eye
# corners)); negative = upwards. methods.md A.6 (PyTorch-JAANet network.py / util.py).
JAA_CENTRES = {
    "AU1": ((4, 5), -1 / 2),
    "AU2": ((1, 8), -1 / 3),
    "AU4": ((2, 7), +1 / 3),
    "AU6": ((24, 29), +1.0),
    "AU7": ((21, 26), 0.0),
    "AU9": ((15, 17), -1 / 2),
    "AU10": ((43, 45), 0.0),
    "AU12": ((31, 37), 0.0),
    "AU14": ((31, 37), 0.0),
    "AU15": ((31, 37), 0.0),
    "AU17": ((39, 41), +1 / 2),
    "AU23": ((34, 40), 0.0),
    "AU24": ((34, 40), 0.0),
    "AU25": ((34, 40), 0.0),
    "AU26": ((39, 41), +1 / 2),
}


def jaa_centres(landmarks: np.ndarray, aus="bp4d") -> np.ndarray:
    """JAA-Net/ADLD AU centres ``(n_aus, 2, 2)`` in landmark coordinates (68-pt input)."""
    lm49 = np.asarray(landmarks, np.float64)[LM68_TO_49]
    ruler = abs(lm49[22, 0] - lm49[25, 0])
    out = []
    for au in au_list(aus):
        (a, b), shift = JAA_CENTRES[au]
        out.append([lm49[a] + (0, shift * ruler), lm49[b] + (0, shift * ruler)])
    return np.asarray(out, np.float32)


def jaa_attention_maps(landmarks: np.ndarray, aus="bp4d", crop_size: int = 176,
                       map_size: int = 52, spatial_ratio: float = 0.14,
                       fill_coeff: float = 0.56) -> np.ndarray:
    """Predefined AU attention maps of JAA-Net/ADLD ``(n_aus, map_size, map_size)`` in [0, 1].

    Landmarks are in ``crop_size`` (176) crop pixels and are scaled to the map (52 = 44 + 8
    in JAA-Net). Around each centre a square of half-size round((map-1)/2 spatial_ratio)
    holds 1 - (|dx| + |dy|) fill_coeff / (map spatial_ratio); maps of the two centres are
    combined by max (methods.md A.6).
    """
    cen = jaa_centres(landmarks, aus) * (map_size / crop_size)
    half = int(round((map_size - 1) / 2 * spatial_ratio))
    maps = np.zeros((len(cen), map_size, map_size), np.float32)
    for k, pair in enumerate(cen):
        for cx, cy in pair:
            ix, iy = int(round(float(cx))), int(round(float(cy)))
            for y in range(max(iy - half, 0), min(iy + half + 1, map_size)):
                for x in range(max(ix - half, 0), min(ix + half + 1, map_size)):
                    v = 1 - (abs(y - iy) + abs(x - ix)) * fill_coeff / (map_size * spatial_ratio)
                    maps[k, y, x] = max(maps[k, y, x], v)
    return maps


# --------------------------------------------------------------------------- PIAP-DF
# AU -> list of polygons; a polygon is a list of (landmark index, dx, dy) with dx, dy in
# units of IOD (|lm42 - lm39|); each polygon is filled as its convex hull. OUR reading of
# PIAP-DF Figure 3 (see module docstring): regions follow the muscles FACS names for the AU.
PI_REGIONS = {
    "AU1": [[(19, 0, 0), (20, 0, 0), (21, 0, 0), (22, 0, 0), (23, 0, 0), (24, 0, 0),
             (20, 0, -0.6), (21, 0, -0.7), (22, 0, -0.7), (23, 0, -0.6)]],
    "AU2": [[(17, 0, 0), (18, 0, 0), (19, 0, 0), (17, 0, -0.6), (19, 0, -0.7)],
            [(24, 0, 0), (25, 0, 0), (26, 0, 0), (26, 0, -0.6), (24, 0, -0.7)]],
    "AU4": [[(18, 0, 0), (19, 0, 0), (20, 0, 0), (21, 0, 0), (22, 0, 0), (23, 0, 0), (24, 0, 0),
             (25, 0, 0), (27, 0, 0), (39, 0, 0), (42, 0, 0)]],
    "AU6": [[(36, 0, 0), (41, 0, 0), (40, 0, 0), (39, 0, 0), (36, -0.3, 0.8), (39, 0, 1.1),
             (36, -0.4, 0)],
            [(42, 0, 0), (47, 0, 0), (46, 0, 0), (45, 0, 0), (45, 0.3, 0.8), (42, 0, 1.1),
             (45, 0.4, 0)]],
    "AU7": [[(36, -0.15, 0), (37, 0, -0.15), (38, 0, -0.15), (39, 0.1, 0), (40, 0, 0.25),
             (41, 0, 0.25)],
            [(42, -0.1, 0), (43, 0, -0.15), (44, 0, -0.15), (45, 0.15, 0), (46, 0, 0.25),
             (47, 0, 0.25)]],
    "AU9": [[(27, 0, 0), (39, 0, 0), (42, 0, 0), (31, 0, 0), (35, 0, 0), (29, -0.3, 0),
             (29, 0.3, 0)]],
    "AU10": [[(31, 0, 0), (33, 0, 0), (35, 0, 0), (48, 0, 0), (50, 0, 0), (52, 0, 0),
              (54, 0, 0)]],
    "AU12": [[(48, 0, 0), (48, -0.35, -0.35), (48, -0.35, 0.25), (49, 0, 0), (59, 0, 0)],
             [(54, 0, 0), (54, 0.35, -0.35), (54, 0.35, 0.25), (53, 0, 0), (55, 0, 0)]],
    "AU14": [[(48, 0, 0), (48, -0.4, 0), (48, -0.3, -0.2), (48, -0.3, 0.2)],
             [(54, 0, 0), (54, 0.4, 0), (54, 0.3, -0.2), (54, 0.3, 0.2)]],
    "AU15": [[(48, 0, 0), (59, 0, 0), (48, -0.3, 0.5), (59, 0, 0.5)],
             [(54, 0, 0), (55, 0, 0), (54, 0.3, 0.5), (55, 0, 0.5)]],
    "AU17": [[(57, 0, 0), (56, 0, 0), (58, 0, 0), (7, 0, 0), (8, 0, 0), (9, 0, 0)]],
    "AU23": [[(48, 0, 0), (50, 0, 0), (51, 0, 0), (52, 0, 0), (54, 0, 0), (56, 0, 0),
              (57, 0, 0), (58, 0, 0)]],
    "AU24": [[(48, 0, 0), (50, 0, 0), (51, 0, 0), (52, 0, 0), (54, 0, 0), (56, 0, 0),
              (57, 0, 0), (58, 0, 0)]],
    "AU25": [[(60, 0, 0), (61, 0, 0), (62, 0, 0), (63, 0, 0), (64, 0, 0), (65, 0, 0),
              (66, 0, 0), (67, 0, 0), (51, 0, 0), (57, 0, 0)]],
    "AU26": [[(48, 0, 0), (54, 0, 0), (57, 0, 0), (6, 0, 0), (8, 0, 0), (10, 0, 0)]],
}


#: Why each PI region is where it is: the muscle FACS names for the AU and where its appearance
#: changes show (Ekman, Friesen & Hager, FACS Manual 2002, per-AU "appearance changes"). The
#: polygons above follow these sentences; they are our reading, not PIAP-DF's masks.
PI_RATIONALE = {
    "AU1": "frontalis, pars medialis: raises the inner brows; horizontal forehead wrinkles above the inner brows",
    "AU2": "frontalis, pars lateralis: raises the outer brows; the skin above the outer brow corners",
    "AU4": "corrugator / depressor supercilii, procerus: lowers and draws the brows together; glabella lines between the brows",
    "AU6": "orbicularis oculi, pars orbitalis: raises the cheeks; crow's feet and the infraorbital bulge below each eye",
    "AU7": "orbicularis oculi, pars palpebralis: tightens the lids; the eyelids themselves",
    "AU9": "levator labii superioris alaeque nasi: wrinkles the nose; the nose bridge and sides",
    "AU10": "levator labii superioris: raises the upper lip; between the nose base and the upper lip",
    "AU12": "zygomaticus major: pulls the lip corners up and out; the corners and the cheek beside them",
    "AU14": "buccinator: tightens the lip corners, dimples; just outside each corner",
    "AU15": "depressor anguli oris: pulls the corners down; below each corner",
    "AU17": "mentalis: pushes the chin boss up; the chin below the lower lip",
    "AU23": "orbicularis oris: tightens the lips; the lips",
    "AU24": "orbicularis oris: presses the lips together; the lips",
    "AU25": "lips part (orbicularis oris relaxed, depressor labii); the mouth opening",
    "AU26": "jaw drops (masseter relaxed); the mouth and chin",
}

def pi_maps(landmarks: np.ndarray, size: int = 256, aus="bp4d",
            image_size: int | None = None) -> np.ndarray:
    """PIAP-DF-style predefined PI maps: binary masks ``(n_aus, size, size)`` float32.

    ``landmarks`` are in pixels of an ``image_size`` square image (default ``size``; PIAP-DF
    uses 256, paper 004 §3.1) and are scaled to the map. Regions: :data:`PI_REGIONS` (our
    reading of the paper's Figure 3, see the module docstring).
    """
    lm = np.asarray(landmarks, np.float64) * (size / (image_size or size))
    iod = float(np.hypot(*(lm[42] - lm[39])))
    maps = np.zeros((len(au_list(aus)), size, size), np.uint8)
    for k, au in enumerate(au_list(aus)):
        if au not in PI_REGIONS:
            raise KeyError(f"no PI region defined for {au}; known: {', '.join(PI_REGIONS)}")
        for poly in PI_REGIONS[au]:
            pts = np.array([lm[i] + (dx * iod, dy * iod) for i, dx, dy in poly], np.float32)
            hull = cv2.convexHull(np.round(pts).astype(np.int32))
            cv2.fillConvexPoly(maps[k], hull, 1, lineType=cv2.LINE_8)
    return maps.astype(np.float32)
