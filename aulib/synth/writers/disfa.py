"""``synth-disfa``: DISFA's layout (datasets.md section 1), domain ``lab-a``.

Written under the dataset root:

- ``Videos_LeftCamera/LeftVideoSN0XX_comp.avi`` - the left-camera video (MJPG AVI, 20 fps),
  one per subject, the 27 DISFA subject ids;
- ``ActionUnit_Labels/SN0XX/SN0XX_auK.txt`` for the 12 DISFA-coded AUs
  (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26): one line ``frameIndex,intensity`` per frame,
  frame indices 1-based, intensities 0-5 (occurrence = intensity >= 2 downstream);
- ``img/SN0XX/<i>.png`` - the extracted frames, 0-based PNG: ME-GraphAU's research layout
  (``layouts.toml`` [disfa] ``megraphau_frames``: its tool lists ``SN001/0.png``), image ``i`` =
  label line ``i + 1`` = video frame ``i``.

The landmark table holds both the image paths and ``<video>#<i>`` references.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..catalogue import AUS, DISFA_CODED, au_number
from ..dynamics import calibrated_rates, intensity_labels, simulate
from ..engine import Sequence, render_all
from ..identity import identity_seed, make_identity
from .common import finish, inject_failures

SUBJECTS = ("SN001 SN002 SN003 SN004 SN005 SN006 SN007 SN008 SN009 SN010 SN011 SN012 SN013 "
            "SN016 SN017 SN018 SN021 SN023 SN024 SN025 SN026 SN027 SN028 SN029 SN030 SN031 "
            "SN032").split()
DURATION_S = 4845 / 20.0          # a DISFA video: 4845 frames at 20 fps


def write(root: Path, size: int, n_frames: int, seed: int, failure_rates: dict, **_) -> dict:
    seqs = []
    for sn in SUBJECTS:
        sid = identity_seed("synth-disfa", sn, seed)
        ident = make_identity(sid)
        rng = np.random.default_rng(sid % (2**32))
        times = np.arange(n_frames) * (DURATION_S / n_frames)
        aus = simulate(calibrated_rates("disfa"), times, rng, au_rate=ident.au_rate)
        seqs.append(Sequence(
            key=sn, paths=[f"img/{sn}/{i}.png" for i in range(n_frames)], aus=aus,
            identity=sid, domain="lab-a", size=size, seed=sid % (2**32), mode="video",
            times=times, failures=inject_failures(rng, n_frames, failure_rates, force=sn == SUBJECTS[0]),
            video=f"Videos_LeftCamera/LeftVideo{sn}_comp.avi", fps=20.0, jpeg=95))
    results = render_all(seqs, root, desc="synth-disfa")
    for s in seqs:
        ints = intensity_labels(s.aus)
        d = root / "ActionUnit_Labels" / s.key
        d.mkdir(parents=True, exist_ok=True)
        for au in DISFA_CODED:
            col = ints[:, AUS.index(au)]
            lines = "".join(f"{i + 1},{int(v)}\n" for i, v in enumerate(col))
            (d / f"{s.key}_au{au_number(au)}.txt").write_text(lines)
    finish(root, "synth-disfa", seqs, results,
           {"layout": __doc__, "subjects": SUBJECTS, "frames_per_subject": n_frames,
            "size": size, "domain": "lab-a", "labels": list(DISFA_CODED),
            "frame_numbering": "label line k (1-based) = img/<SN>/<k-1>.png = video frame k-1"},
           extra_cols=[{"subject": s.key} for s in seqs], video_refs=True)
    return {"frames": len(SUBJECTS) * n_frames}
