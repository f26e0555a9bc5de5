"""AU dynamics: expression events with onset, apex and offset; co-occurrence; base rates.

A timeline of AU intensities is the frame-wise maximum of *events*. Each event type is a
set of AUs that act together (a smile is AU12 with AU6 most of the time and AU25 often, a
surprise AU1+AU2 with AU5 and AU25/26, a "talk" AU25 with AU26...), plus one "solo" type
per AU. An event rises over an onset (0.3-1 s), holds an apex (lognormal, ~1.5 s) and
decays over an offset (0.4-1.5 s). Event types arrive as Poisson processes; a subject's
per-AU propensity (:attr:`Identity.au_rate`) scales them, so some subjects rarely show
some AUs (identity overfitting is possible, as in the real data).

Each dataset preset (:data:`PRESETS`) gives target base rates - the share of frames in
which an AU counts as present under that dataset's rule (DISFA: intensity >= 2; BP4D and
EmotioNet: intensity >= 1, i.e. A-level trace or more) - in the range of the real data
(DISFA and BP4D rates from FG-Net's test lists, ``/work/shared/reference/fgnet.md`` s.2).
:func:`calibrated_rates` fits the event rates to those targets by simulation (cached).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .catalogue import AUS

_AI = {a: i for i, a in enumerate(AUS)}

# event type -> {AU: (probability the AU takes part, apex intensity low, high)}
EVENTS: dict[str, dict[str, tuple[float, float, float]]] = {
    "smile": {"AU12": (1.0, 1.5, 5.0), "AU6": (0.75, 1.0, 4.5), "AU25": (0.45, 1.0, 3.5),
              "AU26": (0.12, 1.0, 2.5), "AU14": (0.12, 1.0, 3.0), "AU10": (0.15, 1.0, 2.5)},
    "laugh": {"AU12": (1.0, 3.0, 5.0), "AU6": (1.0, 2.5, 5.0), "AU25": (1.0, 2.0, 5.0),
              "AU26": (0.7, 2.0, 4.5), "AU7": (0.4, 1.0, 3.0), "AU10": (0.3, 1.0, 3.0)},
    "surprise": {"AU1": (1.0, 2.0, 5.0), "AU2": (0.9, 2.0, 5.0), "AU5": (0.6, 1.0, 4.0),
                 "AU25": (0.7, 1.0, 4.0), "AU26": (0.6, 1.0, 4.0)},
    "brow_raise": {"AU1": (1.0, 1.5, 4.5), "AU2": (0.95, 1.5, 4.5)},
    "sad": {"AU1": (0.9, 1.0, 4.0), "AU4": (0.6, 1.0, 3.5), "AU15": (0.7, 1.0, 4.0),
            "AU17": (0.5, 1.0, 4.0)},
    "frown": {"AU4": (1.0, 1.5, 5.0), "AU7": (0.5, 1.0, 4.0), "AU23": (0.3, 1.0, 3.5),
              "AU24": (0.3, 1.0, 3.5)},
    "disgust": {"AU9": (1.0, 1.5, 5.0), "AU10": (0.8, 1.0, 4.0), "AU4": (0.45, 1.0, 3.5),
                "AU17": (0.3, 1.0, 3.0), "AU25": (0.3, 1.0, 2.5), "AU6": (0.3, 1.0, 3.0)},
    "pain": {"AU4": (1.0, 1.5, 4.5), "AU6": (0.8, 1.5, 4.5), "AU7": (0.9, 1.5, 4.5),
             "AU9": (0.4, 1.0, 4.0), "AU10": (0.6, 1.0, 4.0), "AU25": (0.3, 1.0, 3.0),
             "AU20": (0.2, 1.0, 3.0)},
    "talk": {"AU25": (1.0, 1.0, 4.0), "AU26": (0.65, 1.0, 3.5), "AU10": (0.12, 1.0, 2.0)},
    "lip_press": {"AU24": (1.0, 1.5, 4.5), "AU17": (0.6, 1.0, 4.0), "AU23": (0.4, 1.0, 3.5),
                  "AU14": (0.2, 1.0, 3.0)},
    "squint": {"AU7": (1.0, 1.5, 4.5), "AU6": (0.35, 1.0, 3.0)},
    "dimple": {"AU14": (1.0, 1.5, 4.5), "AU12": (0.3, 1.0, 2.5), "AU24": (0.2, 1.0, 3.0)},
    "fear": {"AU1": (0.9, 1.5, 4.5), "AU2": (0.6, 1.0, 4.0), "AU4": (0.7, 1.0, 4.0),
             "AU5": (0.7, 1.0, 4.5), "AU20": (0.8, 1.0, 4.5), "AU25": (0.6, 1.0, 3.5)},
}
for _a in AUS:
    EVENTS[f"solo_{_a}"] = {_a: (1.0, 1.0, 4.5)}
EVENT_NAMES = tuple(EVENTS)

#: expression class of an event, for FEC's triplet types
EVENT_CLASS = {"smile": "happy", "laugh": "happy", "surprise": "surprise", "brow_raise": "surprise",
               "sad": "sad", "frown": "anger", "disgust": "disgust", "pain": "pain",
               "fear": "fear", "talk": "neutral", "lip_press": "anger", "squint": "pain",
               "dimple": "contempt"}


@dataclass(frozen=True)
class Preset:
    """Dynamics of one dataset: targets and the occurrence rule they are measured with."""

    name: str
    targets: dict                 # AU -> share of frames present
    threshold: float              # continuous intensity at/above which an AU counts present
    weights: dict                 # event type -> relative prior rate
    tolerance: float = 0.35       # relative tolerance the tests allow around the targets


_W_DEFAULT = {"smile": 3, "laugh": 0.8, "surprise": 1, "brow_raise": 1, "sad": 0.8, "frown": 1,
              "disgust": 0.6, "pain": 0.6, "talk": 3, "lip_press": 1, "squint": 1, "dimple": 0.8,
              "fear": 0.4}

PRESETS = {
    # DISFA: occurrence at intensity >= 2; rates near FG-Net's DISFA test lists (AU1 4 %,
    # AU2 3 %, AU4 12 %, AU6 5 %, AU9 3 %, AU12 10 %, AU25 25 %, AU26 11 %), a little higher
    # for the rare AUs so that a tiny dataset still has positives.
    "disfa": Preset("disfa", {"AU1": 0.06, "AU2": 0.05, "AU4": 0.12, "AU5": 0.03, "AU6": 0.08,
                              "AU7": 0.06, "AU9": 0.05, "AU10": 0.05, "AU12": 0.14, "AU14": 0.05,
                              "AU15": 0.04, "AU17": 0.07, "AU20": 0.03, "AU23": 0.04,
                              "AU24": 0.04, "AU25": 0.27, "AU26": 0.13},
                    threshold=1.5, weights=_W_DEFAULT),
    # BP4D: occurrence at A-level or more; rates near FG-Net's BP4D test fold 0.
    "bp4d": Preset("bp4d", {"AU1": 0.18, "AU2": 0.16, "AU4": 0.20, "AU5": 0.05, "AU6": 0.42,
                            "AU7": 0.55, "AU9": 0.06, "AU10": 0.55, "AU12": 0.52, "AU14": 0.42,
                            "AU15": 0.16, "AU17": 0.32, "AU20": 0.05, "AU23": 0.17,
                            "AU24": 0.15, "AU25": 0.40, "AU26": 0.15},
                   threshold=1.0, weights=_W_DEFAULT),
    # in-the-wild photos (EmotioNet-like): many smiles, open mouths
    "wild": Preset("wild", {"AU1": 0.12, "AU2": 0.10, "AU4": 0.12, "AU5": 0.06, "AU6": 0.30,
                            "AU7": 0.15, "AU9": 0.05, "AU10": 0.12, "AU12": 0.42, "AU14": 0.08,
                            "AU15": 0.06, "AU17": 0.10, "AU20": 0.04, "AU23": 0.06,
                            "AU24": 0.06, "AU25": 0.45, "AU26": 0.16},
                   threshold=1.0, weights=_W_DEFAULT),
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown dynamics preset {name!r}; presets are {', '.join(PRESETS)}") from None


def simulate(rates: np.ndarray, times: np.ndarray, rng: np.random.Generator,
             au_rate: np.ndarray | None = None, events_out: list | None = None) -> np.ndarray:
    """AU intensities (len(times), n_AU) for one subject/session.

    ``rates`` (n_event_types,) events per second; ``times`` frame times in seconds (sorted);
    ``au_rate`` the subject's per-AU propensity (None = 1). ``events_out`` collects
    ``(type, t0, t1)`` tuples (used for expression classes)."""
    times = np.asarray(times, float)
    n = len(times)
    out = np.zeros((n, len(AUS)))
    if n == 0:
        return out
    t_lo, t_hi = times[0] - 3.0, times[-1] + 1.0
    span = t_hi - t_lo
    bias = np.ones(len(AUS)) if au_rate is None else np.asarray(au_rate, float)
    for e, name in enumerate(EVENT_NAMES):
        aus = EVENTS[name]
        first = next(iter(aus))
        lam = rates[e] * bias[_AI[first]] * span
        k = rng.poisson(lam)
        if k == 0:
            continue
        starts = rng.uniform(t_lo, t_hi, k)
        on = rng.uniform(0.3, 1.0, k)
        apex = np.clip(rng.lognormal(np.log(1.5), 0.6, k), 0.3, 8.0)
        off = rng.uniform(0.4, 1.5, k)
        for j in range(k):
            t0, t1, t2, t3 = starts[j], starts[j] + on[j], starts[j] + on[j] + apex[j], \
                starts[j] + on[j] + apex[j] + off[j]
            i0, i1 = np.searchsorted(times, [t0, t3])
            if i1 <= i0:
                continue
            tt = times[i0:i1]
            env = np.minimum(np.clip((tt - t0) / (t1 - t0), 0, 1), np.clip((t3 - tt) / (t3 - t2), 0, 1))
            env = env * env * (3 - 2 * env)          # smooth-step rise and fall
            if events_out is not None:
                events_out.append((name, t0, t3))
            for au, (p, lo, hi) in aus.items():
                ai = _AI[au]
                if au != first and rng.random() > p * min(1.0, bias[ai]):
                    continue
                lag = rng.uniform(-0.15, 0.25) if au != first else 0.0
                e_au = env if lag == 0.0 else np.interp(tt - lag, tt, env, left=0.0, right=env[-1])
                out[i0:i1, ai] = np.maximum(out[i0:i1, ai], rng.uniform(lo, hi) * e_au)
    return np.clip(out, 0.0, 5.0)


@lru_cache(maxsize=8)
def calibrated_rates(preset: str) -> np.ndarray:
    """Event rates (per second) whose simulated base rates match the preset's targets.

    Fitted by simulation once per version of this module and cached on disk
    (``<cache>/synthau/calibration-<hash>.json``)."""
    import hashlib
    import json
    from pathlib import Path

    from .. import config

    src = Path(__file__).read_bytes() + Path(__file__).with_name("catalogue.py").read_bytes()
    key = hashlib.sha256(src + preset.encode()).hexdigest()[:16]
    path = config.cache_dir("synthau") / f"calibration-{preset}-{key}.json"
    if path.is_file():
        try:
            return np.array(json.loads(path.read_text()), float)
        except (ValueError, OSError):
            pass
    rates = _fit_rates(preset)
    tmp = path.with_suffix(f".{id(rates)}.tmp")
    tmp.write_text(json.dumps(rates.tolist()))
    tmp.replace(path)
    return rates


def _fit_rates(preset: str, iterations: int = 18) -> np.ndarray:
    p = get_preset(preset)
    target = np.array([p.targets.get(a, 0.02) for a in AUS])
    rates = np.array([0.03 * p.weights.get(n, 0.0) if not n.startswith("solo_") else 0.01
                      for n in EVENT_NAMES])
    times = np.arange(0, 500.0, 0.5)
    members = [[(_AI[a], pr) for a, (pr, _, _) in EVENTS[n].items()] for n in EVENT_NAMES]
    for it in range(iterations):
        rng = np.random.default_rng(1000 + it)
        obs = np.mean([(simulate(rates, times, rng) >= p.threshold).mean(0) for _ in range(4)], 0)
        ratio = np.clip((target + 1e-3) / (obs + 1e-3), 0.25, 4.0)
        for e, mem in enumerate(members):
            w = np.array([pr for _, pr in mem])
            r = np.exp(np.sum(w * np.log(ratio[[i for i, _ in mem]])) / w.sum())
            rates[e] *= r ** ((0.9 if len(mem) == 1 else 0.5) * (1.0 if it < 10 else 0.6))
    return rates


def occurrence(intensity: np.ndarray, preset: str) -> np.ndarray:
    """0/1 occurrence under the preset's rule."""
    return (np.asarray(intensity) >= get_preset(preset).threshold).astype(np.int8)


def intensity_labels(intensity: np.ndarray) -> np.ndarray:
    """Integer FACS intensities 0-5 (0 absent, 1 = A ... 5 = E) from continuous ones."""
    return np.clip(np.rint(intensity), 0, 5).astype(np.int8)


def pose_walk(times: np.ndarray, rng: np.random.Generator, amp=(4.0, 3.0, 2.0)) -> np.ndarray:
    """Slow head movement (len(times), 3) in degrees: a sum of random sinusoids."""
    t = np.asarray(times, float)[:, None]
    out = np.zeros((len(t), 3))
    for k in range(3):
        f = rng.uniform(0.02, 0.3, 3)
        ph = rng.uniform(0, 2 * np.pi, 3)
        out[:, k] = amp[k] * np.sin(2 * np.pi * f * t + ph).mean(1)
    return out
