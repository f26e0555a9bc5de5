"""SynthAU: procedural AU face images and videos, written in the real datasets' layouts.

Public API
----------
- :func:`ensure(name, profile="tiny", root=None, seed=0) -> Path` - write (once; cached by
  a fingerprint of code + parameters) the dataset ``name`` in the official layout of the
  dataset it stands in for, and return its root. Names: ``synth-disfa``, ``synth-bp4d``,
  ``synth-bp4dplus``, ``synth-emotionet``, ``synth-fec``, ``synth-faces`` (CASIA-WebFace +
  LFW), ``synth-ffhq``, ``synth-afewva``. Folders: ``<data_root>/synthau/<profile>/<name>/``
  (``<profile>-seed<k>`` for seed k != 0). Each root also holds ``landmarks_68.npz``
  (ground-truth landmarks, the face pipeline's cache format),
  ``synthau_ground_truth.csv.gz`` (AU intensities, head pose, failures per frame) and
  ``synthau_info.json``.
- :func:`render_face(aus=None, identity=0, domain="lab-a", pose=None, size=128, seed=0)`
  -> ``(image RGB uint8 HxWx3, landmarks (68, 2))``.
- :data:`AU_CATALOGUE` - AU name -> FACS name, one-line description, landmarks it moves,
  appearance cues; :data:`AUS` the rendered AUs.
- :data:`DOMAINS` - capture presets ``lab-a`` (DISFA-like), ``lab-b`` (BP4D-like), ``wild``.
- CLI: ``python -m aulib.synth prepare --profile tiny [names...]``, ``python -m aulib.synth list``.

Colour order: images are RGB in memory; files are standard JPEG/PNG written by OpenCV
(from BGR buffers), so any reader that decodes with OpenCV gets BGR and must convert.

Modules: ``catalogue`` (AUs as data), ``face_model`` (linear 3D face), ``identity``,
``domains``, ``render`` (OpenCV renderer), ``dynamics`` (events, co-occurrence, base
rates), ``engine`` (parallel rendering, failure injection), ``writers`` (one per dataset),
``store`` (folders, fingerprints, locking).
"""
from .catalogue import AU_CATALOGUE, AUS, BP4D_AUS, DISFA_AUS, DISFA_CODED, EMOTIONET6_AUS
from .domains import DOMAINS
from .render import render_face
from .store import NAMES, SIZES, dataset_dir, ensure, status

__all__ = ["AU_CATALOGUE", "AUS", "BP4D_AUS", "DISFA_AUS", "DISFA_CODED", "EMOTIONET6_AUS",
           "DOMAINS", "NAMES", "SIZES", "dataset_dir", "ensure", "render_face", "status"]
