"""``synth-ffhq``: an FFHQ stand-in (datasets.md section 8) - many identities, varied
expressions, wild capture, FFHQ-aligned crops (eye and mouth centres placed as NVlabs'
``recreate_aligned_images`` does). Layout facts and sources: ``aulib/data/layouts.toml`` [ffhq].

- ``thumbnails128x128/<5-digit group>/<5-digit index>.png`` when images are 128 px,
  else ``images1024x1024/<group>/<index>.png`` at the profile's size (the folder keeps the
  official name; the real pixel size is in the JSON); groups of 1000;
- ``ffhq-dataset-v2.json`` in the official schema - keys "0", "1", ...; per entry
  ``category`` (training / validation: the last 1/7), ``metadata`` (photo_url, photo_title,
  author, country, license, license_url, date_uploaded, date_crawled; synthetic values),
  and the ``image``, ``thumbnail`` and ``in_the_wild`` blocks, each with file_url,
  file_path, file_size, file_md5, pixel_size, pixel_md5; ``image.face_landmarks`` (68
  points in the aligned image's pixel frame, 1024 px when the image is not written) and
  ``in_the_wild`` with face_rect, face_landmarks and face_quad in the unaligned render.
  Only the folder SynthAU writes has files: its block carries the file's size and md5 and
  the md5 of its decoded pixels (as ``download_ffhq.py`` checks them; None for an injected
  undecodable file); the other blocks give the official path and pixel size with
  ``file_url``, ``file_size``, ``file_md5``, ``pixel_md5`` = None (file not written).
  ``face_rect`` is the landmarks' bounding box (the real one is dlib's detection box).
- ``LICENSE.txt`` at the root and in the written image folder (SynthAU's licence text).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from PIL import Image

from ...face.align import ffhq_quad
from ..engine import render_all
from ..identity import identity_seed
from .common import LAYOUTS, finish, inject_failures, sample_stills, stills_sequences

LAYOUT = LAYOUTS["ffhq"]
LICENSE = """SynthAU synth-ffhq - a synthetic stand-in for the Flickr-Faces-HQ (FFHQ) layout.

Every face in this folder was drawn by aulib.synth from a linear 3D face model; no photograph
and no real person is shown. The metadata (photo URLs, titles, authors, countries, dates) is
synthetic. The real FFHQ dataset is released by NVIDIA under Creative Commons BY-NC-SA 4.0
(https://github.com/NVlabs/ffhq-dataset); this folder is not a copy of it.
"""


def _file_block(path: str, pixels: int, root: Path | None) -> dict:
    """One image/thumbnail/in_the_wild block; file facts only when ``root/path`` exists."""
    block = dict.fromkeys(LAYOUT["file_keys"])
    block.update(file_path=path, pixel_size=[pixels, pixels])
    f = None if root is None else root / path
    if f is not None and f.is_file():
        data = f.read_bytes()
        block.update(file_size=len(data), file_md5=hashlib.md5(data).hexdigest())
        try:
            with Image.open(f) as im:
                block["pixel_md5"] = hashlib.md5(np.array(im)).hexdigest()
        except OSError:                     # an injected corrupt file: no pixels to hash
            pass
    return block


def write(root: Path, size: int, n_images: int, seed: int, failure_rates: dict, **_) -> dict:
    rng = np.random.default_rng(identity_seed("synth-ffhq", seed) % (2**32))
    written = "thumbnail" if size == LAYOUT["thumbnail_pixels"] else "image"
    pattern = {"image": LAYOUT["image_path"], "thumbnail": LAYOUT["thumbnail_path"],
               "in_the_wild": LAYOUT["in_the_wild_path"]}
    aus = sample_stills("wild", n_images, rng, spacing=5.0)
    paths = [pattern[written].format(group=i - i % 1000, index=i) for i in range(n_images)]
    fails = inject_failures(rng, n_images, {k: v for k, v in failure_rates.items() if k == "corrupt"},
                            force=True)
    seqs = stills_sequences("synth-ffhq", paths, aus, fails, seed, size, align="ffhq")
    results = render_all(seqs, root, desc="synth-ffhq")
    lms = np.concatenate([r["landmarks"] for r in results])
    src = np.concatenate([r["landmarks_src"] for r in results])
    src_px = int(results[0]["src_size"])
    n_val = n_images // 7
    image_px = size if written == "image" else LAYOUT["image_pixels"]
    meta = {}
    for i in range(n_images):
        blocks = {k: _file_block(pattern[k].format(group=i - i % 1000, index=i), px,
                                 root if k == written else None)
                  for k, px in (("image", image_px), ("thumbnail", LAYOUT["thumbnail_pixels"]),
                                ("in_the_wild", src_px))}
        blocks["image"]["face_landmarks"] = np.round(lms[i].astype(float) * image_px / size, 2).tolist()
        quad, _ = ffhq_quad(src[i])
        lo, hi = np.floor(src[i].min(0)), np.ceil(src[i].max(0))
        blocks["in_the_wild"].update(face_rect=[int(v) for v in (*lo, *hi)],
                                     face_landmarks=np.round(src[i].astype(float), 2).tolist(),
                                     face_quad=np.round(quad, 2).tolist())
        meta[str(i)] = {
            "category": LAYOUT["categories"][1] if i >= n_images - n_val else LAYOUT["categories"][0],
            "metadata": {"photo_url": f"http://synthau.invalid/ffhq/photos/{i}",
                         "photo_title": f"synthau_{i:05d}.png", "author": "SynthAU",
                         "country": "", "license": "synthetic (SynthAU), see LICENSE.txt",
                         "license_url": "", "date_uploaded": "", "date_crawled": ""},
            **blocks}
    (root / LAYOUT["json"]).write_text(json.dumps(meta))
    folder = paths[0].split("/")[0]
    for lic in (LAYOUT["license"], f"{folder}/{LAYOUT['license']}"):
        (root / lic).write_text(LICENSE)
    finish(root, "synth-ffhq", seqs, results,
           {"layout": __doc__, "size": size, "domain": "wild", "images": n_images,
            "aligned": "ffhq", "written_block": written, "in_the_wild_pixels": src_px},
           extra_cols=[{"subject": [p.split("/")[-1][:-4] for p in s.paths]} for s in seqs])
    return {"frames": n_images}
