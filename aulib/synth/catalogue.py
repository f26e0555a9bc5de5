"""The AU catalogue of SynthAU, as data.

Owns the list of Action Units the synthetic face can show, each with its FACS name, a
one-line description of what FACS says the muscle does to the face, the iBUG-68 landmarks
it moves (checked by the tests: an AU moves exactly these, nothing else beyond a
tolerance) and the appearance cues a FACS coder looks for, which the renderer draws.

AU set: the union of DISFA's 12 coded AUs (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26) and
BP4D's 12 evaluated AUs (1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23, 24) - see
``/work/shared/reference/datasets.md`` sections 1-2. Descriptions paraphrase the FACS
manual's action descriptions (Ekman, Friesen & Hager, 2002).
"""
from __future__ import annotations

# Landmark index groups of the iBUG/dlib 68-point scheme (0-based).
JAW = tuple(range(0, 17))
BROW_L, BROW_R = tuple(range(17, 22)), tuple(range(22, 27))   # image-left = subject's right
NOSE_BRIDGE, NOSE_BASE = tuple(range(27, 31)), tuple(range(31, 36))
EYE_L, EYE_R = tuple(range(36, 42)), tuple(range(42, 48))
LIPS_OUTER, LIPS_INNER = tuple(range(48, 60)), tuple(range(60, 68))

# name -> (FACS name, one-line description, landmarks moved, appearance cues drawn)
_ROWS = [
    ("AU1", "Inner Brow Raiser", "frontalis (pars medialis) pulls the inner ends of the brows "
     "up, giving the brows an oblique shape and short wrinkles in the centre of the forehead",
     (19, 20, 21, 22, 23, 24), ("central forehead wrinkles",)),
    ("AU2", "Outer Brow Raiser", "frontalis (pars lateralis) pulls the outer parts of the brows "
     "up and stretches the lateral eye cover fold; wrinkles on the lateral forehead",
     (17, 18, 19, 24, 25, 26), ("lateral forehead wrinkles",)),
    ("AU4", "Brow Lowerer", "corrugator/depressor supercilii lower the brows and draw them "
     "together, producing vertical wrinkles between the brows (glabella lines)",
     BROW_L + BROW_R, ("glabella lines",)),
    ("AU5", "Upper Lid Raiser", "levator palpebrae widens the eye aperture by raising the "
     "upper lid, showing more of the eyeball above the iris", (37, 38, 43, 44),
     ("white above the iris",)),
    ("AU6", "Cheek Raiser", "orbicularis oculi (pars orbitalis) lifts the cheeks and pushes "
     "the skin below the eye up, narrowing the eye from below; crow's feet at the outer corners",
     (40, 41, 46, 47), ("crow's feet", "raised cheek bulge", "lower-lid furrow")),
    ("AU7", "Lid Tightener", "orbicularis oculi (pars palpebralis) tightens the lids, raising "
     "and straightening the lower lid and narrowing the eye aperture",
     (37, 38, 40, 41, 43, 44, 46, 47), ("straightened lower lid",)),
    ("AU9", "Nose Wrinkler", "levator labii superioris alaeque nasi wrinkles the skin along "
     "the sides and bridge of the nose, pulls the nostril wings and the upper lip up and "
     "lowers the inner brows", (20, 21, 22, 23, 31, 32, 33, 34, 35, 49, 50, 51, 52, 53),
     ("nose-bridge wrinkles", "deepened upper nasolabial fold")),
    ("AU10", "Upper Lip Raiser", "levator labii superioris raises the centre of the upper "
     "lip, deepening the upper nasolabial furrow and widening the nostril wings",
     (31, 35, 49, 50, 51, 52, 53, 61, 62, 63), ("deepened nasolabial fold",)),
    ("AU12", "Lip Corner Puller", "zygomaticus major pulls the lip corners up and out, "
     "deepening the nasolabial folds and raising the infraorbital triangle",
     (48, 49, 53, 54, 55, 56, 58, 59, 60, 61, 63, 64, 65, 67), ("nasolabial folds",)),
    ("AU14", "Dimpler", "buccinator tightens the lip corners and pulls them inwards, "
     "producing a dimple-like wrinkle beyond each corner", (48, 54, 60, 64), ("dimples",)),
    ("AU15", "Lip Corner Depressor", "depressor anguli oris pulls the lip corners down, "
     "angling the lips downwards", (48, 49, 53, 54, 55, 59, 60, 64),
     ("lines below the lip corners",)),
    ("AU17", "Chin Raiser", "mentalis pushes the chin boss and the lower lip up, wrinkling "
     "the chin skin and giving the mouth an inverted-U shape",
     (6, 7, 8, 9, 10, 48, 54, 55, 56, 57, 58, 59),
     ("chin boss wrinkles", "mentolabial furrow")),
    ("AU20", "Lip Stretcher", "risorius pulls the lip corners laterally, elongating and "
     "flattening the mouth", (48, 49, 53, 54, 55, 59, 60, 64), ("stretched lip corners",)),
    ("AU23", "Lip Tightener", "orbicularis oris tightens the lips, making the red parts "
     "narrower and the lip edges roll in", (48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59),
     ("thinner vermilion",)),
    ("AU24", "Lip Pressor", "orbicularis oris presses the lips together, thinning them and "
     "bulging the skin above and below", (49, 50, 51, 52, 53, 55, 56, 57, 58, 59),
     ("thinner vermilion", "bulge below the lower lip")),
    ("AU25", "Lips Part", "the lips part (orbicularis relaxation / depressor labii), exposing "
     "the teeth or the inside of the mouth",
     (49, 50, 51, 52, 53, 55, 56, 57, 58, 59, 61, 62, 63, 65, 66, 67), ("teeth",)),
    ("AU26", "Jaw Drop", "the jaw is lowered by relaxing the masseter, dropping the chin and "
     "lowering the lower lip", (4, 5, 6, 7, 8, 9, 10, 11, 12, 48, 54, 55, 56, 57, 58, 59,
                                60, 64, 65, 66, 67), ("open mouth cavity",)),
]

AU_CATALOGUE: dict[str, dict] = {
    name: {"facs_name": facs, "description": desc, "landmarks": tuple(sorted(lms)),
           "cues": cues}
    for name, facs, desc, lms, cues in _ROWS
}

#: every AU SynthAU renders, in catalogue order
AUS: tuple[str, ...] = tuple(AU_CATALOGUE)
#: the 12 AUs coded in DISFA's label files (datasets.md section 1)
DISFA_CODED = ("AU1", "AU2", "AU4", "AU5", "AU6", "AU9", "AU12", "AU15", "AU17", "AU20",
               "AU25", "AU26")
#: the 8 DISFA AUs used by detection papers
DISFA_AUS = ("AU1", "AU2", "AU4", "AU6", "AU9", "AU12", "AU25", "AU26")
#: the 12 BP4D AUs used by detection papers (datasets.md section 2)
BP4D_AUS = ("AU1", "AU2", "AU4", "AU6", "AU7", "AU10", "AU12", "AU14", "AU15", "AU17",
            "AU23", "AU24")
#: the 11 EmotioNet challenge AUs (datasets.md section 5)
EMOTIONET_AUS = ("AU1", "AU2", "AU4", "AU5", "AU6", "AU9", "AU12", "AU17", "AU20", "AU25",
                 "AU26")
#: the 6 AUs of the BP4D -> EmotioNet protocol (ADLD, Shang & Yu)
EMOTIONET6_AUS = ("AU1", "AU2", "AU4", "AU6", "AU12", "AU17")


def au_number(name: str) -> int:
    """``"AU12"`` -> 12."""
    return int(str(name).upper().removeprefix("AU"))


def check_aus(aus) -> dict[str, float]:
    """Validate an AU intensity mapping (names as in :data:`AUS`, values 0-5)."""
    out = {}
    for k, v in dict(aus or {}).items():
        name = k if str(k).upper().startswith("AU") else f"AU{k}"
        name = name.upper()
        if name not in AU_CATALOGUE:
            raise KeyError(f"unknown AU {k!r}; SynthAU renders {', '.join(AUS)}")
        v = float(v)
        if not 0.0 <= v <= 5.0:
            raise ValueError(f"{name} intensity must be within 0-5 (FACS A-E), got {v}")
        out[name] = v
    return out
