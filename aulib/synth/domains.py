"""Capture-condition presets ("domains") and the per-frame capture they sample.

- ``lab-a`` (DISFA-like): one plain background, frontal head, even frontal light, a fixed
  camera; faces fill about half the frame.
- ``lab-b`` (BP4D-like): another camera and room - warmer colour, side light with stronger
  shading, a darker graded background, a vignette, slightly smaller and off-centre faces,
  a little sensor noise.
- ``wild`` (EmotioNet-like): random pose, light direction and colour, random cluttered
  backgrounds, framing, blur, noise, JPEG quality and partial occlusion, photographed with
  face-priority auto-exposure (as phone cameras meter on a detected face), so a dark or
  side-lit face is brightened, not left in the noise. The hardest domain for a face detector
  (most of its faces turn away more than 15 degrees; clutter, blur, noise, occluders), yet
  tuned so that dlib finds >= 90 % of its near-frontal faces, as on real in-the-wild photos
  (issue #12; before: about a third).

A :class:`Capture` is everything the renderer needs besides the face itself. For videos a
session capture is drawn once (camera, light, background) and jittered per frame.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class Domain:
    name: str
    description: str
    yaw_sd: float
    pitch_sd: float
    roll_sd: float
    face_frac: tuple[float, float]     # face width / image width
    center_jitter: float               # fraction of the image
    distance: tuple[float, float]      # camera distance in model units (perspective)
    light_az: tuple[float, float]      # light azimuth range, degrees (0 = frontal)
    light_el: tuple[float, float]
    diffuse: tuple[float, float]
    ambient: tuple[float, float]
    gain_sd: float                      # colour-cast spread around ``gain``
    gain: tuple[float, float, float]    # RGB channel gains
    background: str                     # "plain" | "graded" | "clutter"
    bg_colour: tuple[float, float, float]
    bg_sd: float
    blur: tuple[float, float]           # probability, max sigma (px at 128)
    noise: tuple[float, float]          # noise sd range (0-255 scale)
    jpeg: tuple[int, int]               # quality range
    occlusion: float                    # probability of a partial occluder
    vignette: float
    exposure: float = 0.0               # face-priority auto-exposure target (0-255), 0 = off


DOMAINS: dict[str, Domain] = {
    "lab-a": Domain("lab-a", "DISFA-like: one background, frontal, even light",
                    yaw_sd=3.0, pitch_sd=3.0, roll_sd=2.0, face_frac=(0.46, 0.50),
                    center_jitter=0.01, distance=(9.0, 9.0), light_az=(-5, 5), light_el=(5, 15),
                    diffuse=(0.30, 0.34), ambient=(0.70, 0.74), gain_sd=0.0,
                    gain=(1.0, 1.0, 1.0), background="plain", bg_colour=(92, 100, 112),
                    bg_sd=0.0, blur=(0.0, 0.0), noise=(0.0, 1.0), jpeg=(92, 95), occlusion=0.0,
                    vignette=0.0),
    "lab-b": Domain("lab-b", "BP4D-like: other camera, warm colour, side light, framing",
                    yaw_sd=6.0, pitch_sd=5.0, roll_sd=3.0, face_frac=(0.38, 0.44),
                    center_jitter=0.04, distance=(16.0, 18.0), light_az=(35, 55), light_el=(10, 30),
                    diffuse=(0.55, 0.65), ambient=(0.45, 0.52), gain_sd=0.03,
                    gain=(1.12, 0.98, 0.80), background="graded", bg_colour=(40, 46, 40),
                    bg_sd=8.0, blur=(0.3, 0.8), noise=(2.0, 4.0), jpeg=(80, 90), occlusion=0.0,
                    vignette=0.35),
    "wild": Domain("wild", "EmotioNet-like: random pose, light, background, blur, noise, JPEG, occlusion",
                   yaw_sd=18.0, pitch_sd=10.0, roll_sd=7.0, face_frac=(0.38, 0.58),
                   center_jitter=0.04, distance=(7.0, 14.0), light_az=(-40, 40), light_el=(0, 50),
                   diffuse=(0.25, 0.55), ambient=(0.5, 0.8), gain_sd=0.12, gain=(1.0, 1.0, 1.0),
                   background="clutter", bg_colour=(120, 120, 120), bg_sd=60.0,
                   blur=(0.3, 1.1), noise=(0.0, 4.0), jpeg=(50, 90), occlusion=0.05,
                   vignette=0.1, exposure=150.0),
}


def get_domain(name: str) -> Domain:
    try:
        return DOMAINS[name]
    except KeyError:
        raise KeyError(f"unknown domain {name!r}; presets are {', '.join(DOMAINS)}") from None


@dataclass
class Capture:
    """Per-frame capture conditions (pose, camera, light, colour, degradations)."""

    domain: str
    yaw: float
    pitch: float
    roll: float
    distance: float
    face_frac: float
    cx: float                           # face centre, fraction of the image
    cy: float
    light: tuple[float, float, float]   # unit vector towards the light (x right, y down, z to camera)
    diffuse: float
    ambient: float
    gain: tuple[float, float, float]
    bg_seed: int
    bg_colour: tuple[float, float, float]
    blur: float
    noise: float
    jpeg: int
    occluder: tuple | None              # (kind, cx, cy, rx, ry, angle, colour) in face units
    vignette: float
    gaze: tuple[float, float] = (0.0, 0.0)
    no_face: bool = False               # failure injection: the face is fully hidden


def _light_vec(az, el):
    az, el = np.deg2rad(az), np.deg2rad(el)
    v = np.array([np.sin(az) * np.cos(el), -np.sin(el), np.cos(az) * np.cos(el)])
    return tuple(float(x) for x in v / np.linalg.norm(v))


def sample_capture(domain: str | Domain, rng: np.random.Generator, pose=None) -> Capture:
    """Draw one capture from a domain preset (``pose`` = (yaw, pitch, roll) overrides)."""
    d = get_domain(domain) if isinstance(domain, str) else domain
    if pose is None:
        yaw, pitch, roll = (float(np.clip(rng.normal(0, s), -3 * s, 3 * s)) for s in
                            (d.yaw_sd, d.pitch_sd, d.roll_sd))
        if d.name == "wild":
            yaw = float(np.clip(yaw, -40, 40))
    else:
        yaw, pitch, roll = (float(v) for v in pose)
    gain = tuple(float(g * np.exp(rng.normal(0, d.gain_sd))) for g in d.gain)
    occ = None
    if rng.random() < d.occlusion:
        kind = rng.choice(["hand", "object", "band"])
        cx, cy = rng.uniform(-0.9, 0.9), rng.uniform(-0.6, 1.2)
        colour = tuple(rng.uniform(20, 235, 3)) if kind != "hand" else (205, 160, 130)
        occ = (str(kind), float(cx), float(cy), float(rng.uniform(0.25, 0.6)),
               float(rng.uniform(0.2, 0.5)), float(rng.uniform(0, 180)), colour)
    bg = np.clip(np.asarray(d.bg_colour) + rng.normal(0, d.bg_sd, 3), 0, 255)
    return Capture(
        domain=d.name, yaw=yaw, pitch=pitch, roll=roll,
        distance=float(rng.uniform(*d.distance)), face_frac=float(rng.uniform(*d.face_frac)),
        cx=float(0.5 + rng.normal(0, d.center_jitter)),
        cy=float(0.5 + rng.normal(0, d.center_jitter)),
        light=_light_vec(rng.uniform(*d.light_az) * (1 if rng.random() < 0.5 or d.name != "lab-b" else 1),
                         rng.uniform(*d.light_el)),
        diffuse=float(rng.uniform(*d.diffuse)), ambient=float(rng.uniform(*d.ambient)),
        gain=gain, bg_seed=int(rng.integers(2**31)), bg_colour=tuple(bg),
        blur=float(rng.uniform(0.3, d.blur[1])) if rng.random() < d.blur[0] else 0.0,
        noise=float(rng.uniform(*d.noise)), jpeg=int(rng.integers(d.jpeg[0], d.jpeg[1] + 1)),
        occluder=occ, vignette=d.vignette,
        gaze=(float(rng.normal(0, 0.12)), float(rng.normal(0, 0.08))),
    )


def jitter_capture(session: Capture, rng: np.random.Generator, domain: str | Domain,
                   pose_walk: tuple[float, float, float] | None = None) -> Capture:
    """A frame of a video session: same camera, light and background; the head moves a
    little (``pose_walk`` = this frame's pose offset) and the eyes look around."""
    d = get_domain(domain) if isinstance(domain, str) else domain
    yaw, pitch, roll = pose_walk if pose_walk is not None else (0.0, 0.0, 0.0)
    return replace(session, yaw=session.yaw + yaw, pitch=session.pitch + pitch,
                   roll=session.roll + roll,
                   cx=session.cx + float(rng.normal(0, 0.004)),
                   cy=session.cy + float(rng.normal(0, 0.004)),
                   noise=session.noise, jpeg=session.jpeg,
                   gaze=(float(np.clip(session.gaze[0] + rng.normal(0, 0.08), -0.35, 0.35)),
                         float(np.clip(session.gaze[1] + rng.normal(0, 0.05), -0.2, 0.2))),
                   occluder=session.occluder if d.name == "wild" else None)
