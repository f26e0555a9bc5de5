"""SynthAU identities: everything about a synthetic person that does not change between
frames, drawn from one seed.

An :class:`Identity` holds face-shape coefficients for :data:`face_model.ID_BASIS`, skin,
lip, brow, hair and iris colours, hair style, beard, moustache, glasses, brow thickness,
age lines, a resting-face bias (a person whose brows rest low looks a little like AU4
without the label - a person-specific confound, as in real data) and per-AU rate
multipliers used by the dynamics (some subjects rarely show some AUs). Identities are
addressed by an integer seed, so millions are possible; :func:`identity_seed` derives a
seed from a dataset name and a subject id.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from .catalogue import AUS
from .face_model import N_ID

# Skin tones (RGB), light to dark; an identity interpolates between neighbours.
SKIN_TONES = np.array([(250, 222, 200), (241, 198, 170), (226, 180, 145), (204, 153, 115),
                       (176, 124, 88), (141, 94, 62), (105, 68, 44), (80, 52, 36)], float)
HAIR_COLOURS = np.array([(30, 24, 22), (62, 42, 30), (101, 70, 44), (150, 110, 70),
                         (214, 180, 120), (160, 70, 40), (150, 150, 150), (225, 225, 220)], float)
HAIR_P = np.array([0.30, 0.24, 0.16, 0.08, 0.08, 0.05, 0.06, 0.03])
IRIS_COLOURS = np.array([(70, 45, 30), (110, 75, 45), (80, 110, 150), (90, 120, 80),
                         (110, 115, 120)], float)
IRIS_P = np.array([0.45, 0.25, 0.12, 0.10, 0.08])
HAIR_STYLES = ("bald", "short", "medium", "long", "fringe", "bun")
BEARDS = ("none", "stubble", "goatee", "full")
GLASSES = ("none", "round", "rect")


def identity_seed(*parts) -> int:
    """A stable 63-bit seed from any parts (dataset name, subject id, global seed...)."""
    h = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(h[:8], "little") >> 1


@dataclass
class Identity:
    seed: int
    sex: str
    coeffs: np.ndarray
    skin: np.ndarray
    lip: np.ndarray
    brow_colour: np.ndarray
    hair_colour: np.ndarray
    iris: np.ndarray
    clothes: np.ndarray
    hair_style: str
    fringe_depth: float
    hair_volume: float
    beard: str
    moustache: bool
    glasses: str
    glasses_colour: np.ndarray
    brow_thickness: float
    age: float                     # 0 young .. 1 old: strength of permanent lines
    rest: np.ndarray = field(default_factory=lambda: np.zeros(len(AUS)))
    au_rate: np.ndarray = field(default_factory=lambda: np.ones(len(AUS)))


def make_identity(seed: int, sex: str | None = None) -> Identity:
    """Draw one identity from ``seed`` (``sex`` 'F'/'M' biases hair and beard, as BP4D's
    F###/M### ids do)."""
    rng = np.random.default_rng(int(seed) % (2**63))
    sex = sex or ("F" if rng.random() < 0.5 else "M")
    coeffs = np.clip(rng.normal(0, 1, N_ID), -2.5, 2.5)
    t = rng.uniform(0, len(SKIN_TONES) - 1)
    i = int(t)
    skin = SKIN_TONES[i] + (SKIN_TONES[min(i + 1, len(SKIN_TONES) - 1)] - SKIN_TONES[i]) * (t - i)
    skin = np.clip(skin + rng.normal(0, 6, 3) + np.array([4, 0, -4]) * rng.normal(), 30, 255)
    lip = np.clip(skin * np.array([0.86, 0.58, 0.58]) + rng.normal(0, 8, 3) +
                  (np.array([25, -5, 5]) if sex == "F" and rng.random() < 0.4 else 0), 20, 255)
    hair_colour = HAIR_COLOURS[rng.choice(len(HAIR_COLOURS), p=HAIR_P)] * rng.uniform(0.85, 1.1)
    if sex == "F":
        style = rng.choice(HAIR_STYLES, p=[0.01, 0.12, 0.25, 0.37, 0.15, 0.10])
        beard, moustache = "none", False
    else:
        style = rng.choice(HAIR_STYLES, p=[0.12, 0.50, 0.20, 0.06, 0.10, 0.02])
        beard = rng.choice(BEARDS, p=[0.55, 0.2, 0.1, 0.15])
        moustache = bool(rng.random() < (0.6 if beard in ("goatee", "full") else 0.12))
    glasses = rng.choice(GLASSES, p=[0.72, 0.12, 0.16])
    brow = np.clip(hair_colour * rng.uniform(0.6, 0.95), 10, 200)
    # resting-face biases: a few AUs look weakly present at rest in some people (no label)
    rest = np.zeros(len(AUS))
    for j in rng.choice(len(AUS), size=rng.integers(0, 3), replace=False):
        rest[j] = rng.uniform(0.3, 1.2)
    # subject-specific AU propensities (log-normal; a few AUs nearly absent for this person)
    au_rate = np.exp(rng.normal(0, 0.5, len(AUS)))
    au_rate[rng.random(len(AUS)) < 0.12] *= 0.08
    return Identity(
        seed=int(seed), sex=sex, coeffs=coeffs, skin=skin, lip=lip, brow_colour=brow,
        hair_colour=np.clip(hair_colour, 0, 255),
        iris=np.clip(IRIS_COLOURS[rng.choice(len(IRIS_COLOURS), p=IRIS_P)] + rng.normal(0, 8, 3), 0, 255),
        clothes=rng.uniform(20, 230, 3), hair_style=str(style),
        fringe_depth=float(rng.uniform(0.15, 0.45)), hair_volume=float(rng.uniform(0.06, 0.2)),
        beard=str(beard), moustache=moustache, glasses=str(glasses),
        glasses_colour=rng.uniform(0, 120, 3) if rng.random() < 0.7 else rng.uniform(120, 220, 3),
        brow_thickness=float(rng.uniform(0.05, 0.10) * (1.15 if sex == "M" else 0.9)),
        age=float(rng.beta(1.5, 4)), rest=rest, au_rate=au_rate,
    )
