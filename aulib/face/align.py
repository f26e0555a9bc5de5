"""Face alignment from 68 landmarks: FFHQ alignment (FG-Net) and the similarity alignment of
JAA-Net / ADLD / Shang & Yu / GLEE-Net, plus the crop-and-flip augmentation that follows it.

Every function maps (image, landmarks) to (aligned image, landmarks in the aligned image),
so labels that live on landmarks (ROI centres, attention maps, PI maps) follow the face.
Landmarks are (68, 2) float (x, y) pixels, iBUG/dlib order, 0-based.
"""
from __future__ import annotations

import cv2
import numpy as np

# iBUG-68 -> the 49-point layout of JAA-Net/ADLD: drop the 17 jaw points and the two inner
# mouth corners (68-pt 60 and 64). methods.md A.1.
LM68_TO_49 = np.array(list(range(17, 60)) + [61, 62, 63, 65, 66, 67])

# Horizontal mirror permutation of the iBUG-68 points (point i of the mirrored face is point
# FLIP_68[i] of the original): jaw, brows, nose base, eyes, outer and inner lips swap sides.
FLIP_68 = np.array(
    list(range(16, -1, -1))            # jaw 0..16
    + list(range(26, 16, -1))          # brows 17..26
    + [27, 28, 29, 30]                 # nose ridge
    + [35, 34, 33, 32, 31]             # nose base
    + [45, 44, 43, 42, 47, 46]         # eye 36..41 <- other eye
    + [39, 38, 37, 36, 41, 40]         # eye 42..47
    + [54, 53, 52, 51, 50, 49, 48]     # outer upper lip 48..54
    + [59, 58, 57, 56, 55]             # outer lower lip 55..59
    + [64, 63, 62, 61, 60]             # inner upper lip 60..64
    + [67, 66, 65])                    # inner lower lip 65..67


def eye_centres(lm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Image-left eye (mean of 36-41) and image-right eye (mean of 42-47)."""
    return lm[36:42].mean(0), lm[42:48].mean(0)


def apply_affine(M: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine matrix to (N, 2) points (NaN stays NaN)."""
    pts = np.asarray(pts, np.float64)
    return (pts @ M[:, :2].T + M[:, 2]).astype(np.float32)


#: appended to the aligned-frame cache key of an alignment (aulib.data.AUDataset); a new tag
#: when an alignment's pixels change, so frames cached by the old code are aligned anew.
CACHE_TAGS = {"ffhq": "|ffhq-area-resize"}


# -------------------------------------------------------------------------------- FFHQ
def ffhq_quad(lm: np.ndarray) -> tuple[np.ndarray, float]:
    """The oriented crop square of FFHQ alignment: corners (4, 2) and side length.

    Facts (datasets.md §8, NVlabs/ffhq-dataset ``recreate_aligned_images``): eye centres are
    the means of 36-41 / 42-47, the mouth corners 48 and 54; x-axis = eye_to_eye minus
    eye_to_mouth rotated by 90 degrees, normalised, scaled by max(2.0 |eye_to_eye|,
    1.8 |eye_to_mouth|); y = x rotated by +90 degrees; centre = eye midpoint + 0.1
    eye_to_mouth; corners c-x-y, c-x+y, c+x+y, c+x-y (upper-left, lower-left, lower-right,
    upper-right of the output).
    """
    lm = np.asarray(lm, np.float64)
    eye_l, eye_r = eye_centres(lm)
    eye_avg = (eye_l + eye_r) / 2
    eye_to_eye = eye_r - eye_l
    mouth_avg = (lm[48] + lm[54]) / 2
    eye_to_mouth = mouth_avg - eye_avg
    x = eye_to_eye - np.array([-eye_to_mouth[1], eye_to_mouth[0]])
    x /= np.hypot(*x)
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.array([-x[1], x[0]])
    c = eye_avg + eye_to_mouth * 0.1
    quad = np.stack([c - x - y, c - x + y, c + x + y, c + x - y])
    return quad, float(np.hypot(*x) * 2)


def _quad_to_square(quad: np.ndarray, size: int) -> np.ndarray:
    """Affine matrix sending quad corners UL, LL, UR to the output square's pixel corners."""
    src = np.float32([quad[0], quad[1], quad[3]])
    # pixel-edge convention: the square's corners are at -0.5 and size-0.5 in pixel centres
    dst = np.float32([[-0.5, -0.5], [-0.5, size - 0.5], [size - 0.5, -0.5]])
    return cv2.getAffineTransform(src, dst)


def ffhq_align(image: np.ndarray, landmarks: np.ndarray, size: int = 256,
               padding: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """FFHQ alignment (what FG-Net applies to BP4D/DISFA frames, fgnet.md §2) at ``size`` px.

    Follows the steps of datasets.md §8: the oriented square of :func:`ffhq_quad`; an integer
    pre-shrink when the square is much larger than the output (factor
    floor(qsize / size / 2)); a crop to the square plus a border of max(round(0.1 qsize), 3);
    where the square leaves the image, reflect padding of at least round(0.3 qsize), blurred
    (sigma 0.02 qsize) and pulled towards the image median with distance into the pad.
    Resampling: FFHQ's script samples the quad at a large ``transform_size`` and then resizes
    to the output with an antialiasing filter (NVlabs ``recreate_aligned_images``; FG-Net links
    the same procedure, reference/fgnet.md §2). We shrink the cropped image with
    ``cv2.INTER_AREA`` (area averaging, antialiased) until the square is ``size`` pixels wide,
    then warp it with one bilinear ``cv2.warpAffine`` at about 1:1 (rotation and sub-pixel
    shift only); a square smaller than ``size`` is warped directly (upsampling needs no
    antialiasing). A single bilinear warp at 2-4x minification - the earlier path - aliases
    fine texture (wrinkles, hair); a test measures both against a PIL quad transform at 8x
    followed by a Lanczos resize. Returns the aligned RGB image and the landmarks mapped into
    it (from the original landmarks; resampling does not move them).
    """
    lm = np.asarray(landmarks, np.float64)
    quad, qsize = ffhq_quad(lm)
    M_full = _quad_to_square(quad, size)           # original image -> output
    img = np.asarray(image)
    q = quad.copy()
    shrink = int(np.floor(qsize / size * 0.5))
    if shrink > 1:
        h, w = img.shape[:2]
        img, q = _area_resize(img, q, 1.0 / shrink)
        qsize /= shrink
    border = max(int(round(qsize * 0.1)), 3)
    h, w = img.shape[:2]
    x0, y0 = int(np.floor(q[:, 0].min())), int(np.floor(q[:, 1].min()))
    x1, y1 = int(np.ceil(q[:, 0].max())), int(np.ceil(q[:, 1].max()))
    cx0, cy0 = max(x0 - border, 0), max(y0 - border, 0)
    cx1, cy1 = min(x1 + border, w), min(y1 + border, h)
    if cx1 - cx0 < w or cy1 - cy0 < h:
        img = img[cy0:cy1, cx0:cx1]
        q -= (cx0, cy0)
        x0, y0, x1, y1 = x0 - cx0, y0 - cy0, x1 - cx0, y1 - cy0
    h, w = img.shape[:2]
    pad = np.array([max(-x0 + border, 0), max(-y0 + border, 0),
                    max(x1 - w + border, 0), max(y1 - h + border, 0)])
    if padding and pad.max() > border - 4:
        pad = np.maximum(pad, int(round(qsize * 0.3)))
        f = np.pad(img.astype(np.float32), ((pad[1], pad[3]), (pad[0], pad[2]), (0, 0)),
                   mode="reflect")
        ph, pw = f.shape[:2]
        yy, xx = np.mgrid[:ph, :pw].astype(np.float32)
        # 1 at the padded border, 0 where the original image starts, negative further inside
        # (so the blur term, weighted by clip(3 mask + 1), fades out a third of a pad inside)
        mx = 1.0 - np.minimum(xx / max(pad[0], 1), (pw - 1 - xx) / max(pad[2], 1))
        my = 1.0 - np.minimum(yy / max(pad[1], 1), (ph - 1 - yy) / max(pad[3], 1))
        mask = np.maximum(mx, my)[..., None]
        blur = cv2.GaussianBlur(f, (0, 0), max(qsize * 0.02, 0.1))
        f += (blur - f) * np.clip(mask * 3.0 + 1.0, 0.0, 1.0)
        f += (np.median(f, axis=(0, 1)) - f) * np.clip(mask, 0.0, 1.0)
        img = np.clip(np.rint(f), 0, 255).astype(np.uint8)
        q += pad[:2]
    if qsize > size:                    # antialiased shrink, so that the warp below is ~1:1
        img, q = _area_resize(img, q, size / qsize)
    M = _quad_to_square(q, size)
    out = cv2.warpAffine(img, M, (size, size), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REFLECT)
    return out, apply_affine(M_full, lm)


def _area_resize(img: np.ndarray, pts: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """Shrink ``img`` by ``factor`` (< 1) with ``cv2.INTER_AREA``; ``pts`` (x, y, pixel centres
    at integers) follow: x' = (x + 0.5) w'/w - 0.5 (OpenCV's resize maps pixel edges to edges)."""
    h, w = img.shape[:2]
    nw, nh = max(1, int(round(w * factor))), max(1, int(round(h * factor)))
    out = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA)
    return out, (pts + 0.5) * np.array([nw / w, nh / h]) - 0.5


# ------------------------------------------------------------------------- similarity
def similarity_matrix(landmarks: np.ndarray, size: int = 200,
                      box_enlarge: float = 2.9) -> np.ndarray:
    """2x3 matrix of JAA-Net/ADLD's similarity alignment (methods.md A.2).

    Reference points: the two eye centres (49-pt 19-24 / 25-30 = 68-pt 36-41 / 42-47), the
    nose tip (49-pt 13 = 68-pt 30) and the mouth corners (49-pt 31, 37 = 68-pt 48, 54).
    (1) rotate so the eye line is horizontal; (2) box around the rotated 5 points, centre =
    box centre; (3) half-size = 0.5 box_enlarge max(box w, box h); (4) scale so that
    half-size maps to (size-1)/2 and the centre to the image centre.
    """
    lm = np.asarray(landmarks, np.float64)
    eye_l, eye_r = eye_centres(lm)
    pts = np.stack([eye_l, eye_r, lm[30], lm[48], lm[54]])
    dx, dy = eye_r - eye_l
    ang = np.arctan2(dy, dx)
    c, s = np.cos(-ang), np.sin(-ang)
    R = np.array([[c, -s], [s, c]])
    rp = pts @ R.T
    lo, hi = rp.min(0), rp.max(0)
    centre = (lo + hi) / 2
    half = 0.5 * box_enlarge * max(hi[0] - lo[0], hi[1] - lo[1])
    scale = (size - 1) / 2 / half
    A = scale * R
    t = (size - 1) / 2 - scale * centre          # the rotated box centre -> image centre
    return np.hstack([A, t[:, None]])


def similarity_align(image: np.ndarray, landmarks: np.ndarray, size: int = 200,
                     box_enlarge: float = 2.9) -> tuple[np.ndarray, np.ndarray]:
    """Similarity-align a face to ``size`` x ``size`` (JAA-Net 2.9 / ADLD 2.8 box_enlarge).

    Bilinear warp, border filled with grey (128, 128, 128) as in the reference code
    (methods.md A.2). Returns the aligned image and the landmarks mapped into it.
    """
    M = similarity_matrix(landmarks, size, box_enlarge)
    out = cv2.warpAffine(np.asarray(image), M, (size, size), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=(128, 128, 128))
    return out, apply_affine(M, landmarks)


# ----------------------------------------------------------------------- augmentation
def crop(image: np.ndarray, landmarks: np.ndarray, x0: int, y0: int,
         size: int) -> tuple[np.ndarray, np.ndarray]:
    """Cut a ``size`` square at (x0, y0); landmarks shifted by the offset."""
    out = image[y0:y0 + size, x0:x0 + size]
    return out, np.asarray(landmarks, np.float32) - np.float32([x0, y0])


def centre_crop(image: np.ndarray, landmarks: np.ndarray, size: int):
    """Test-time crop of JAA-Net/ADLD (176 out of 200): the centred square."""
    h, w = image.shape[:2]
    return crop(image, landmarks, (w - size) // 2, (h - size) // 2, size)


def hflip(image: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mirror horizontally: x' = W - 1 - x and points re-ordered with :data:`FLIP_68`."""
    w = image.shape[1]
    lm = np.asarray(landmarks, np.float32).copy()
    lm[:, 0] = w - 1 - lm[:, 0]
    return np.ascontiguousarray(image[:, ::-1]), lm[FLIP_68]


def random_crop_flip(image: np.ndarray, landmarks: np.ndarray, size: int, rng,
                     flip_p: float = 0.5):
    """Training augmentation of JAA-Net/ADLD/Shang & Yu (methods.md A.3): a ``size`` crop at a
    uniformly random offset and a horizontal flip with probability ``flip_p``.

    ``rng`` is a ``numpy.random.Generator`` (or anything with ``integers`` and ``random``).
    """
    h, w = image.shape[:2]
    x0 = int(rng.integers(0, w - size + 1))
    y0 = int(rng.integers(0, h - size + 1))
    img, lm = crop(image, landmarks, x0, y0, size)
    if rng.random() < flip_p:
        img, lm = hflip(img, lm)
    return img, lm


# ------------------------------------------------------------------ whole frames
ALIGNMENTS = ("similarity", "ffhq", "none")


def align_face(image: np.ndarray, landmarks: np.ndarray, alignment: str, size: int,
               box_enlarge: float = 2.9) -> tuple[np.ndarray, np.ndarray]:
    """Dispatch to :func:`similarity_align` / :func:`ffhq_align`, or ``"none"``: resize the
    whole frame to ``size`` x ``size`` (landmarks scaled)."""
    if alignment == "similarity":
        return similarity_align(image, landmarks, size, box_enlarge)
    if alignment == "ffhq":
        return ffhq_align(image, landmarks, size)
    if alignment != "none":
        raise ValueError(f"alignment must be one of {ALIGNMENTS}, got {alignment!r}")
    h, w = image.shape[:2]
    out = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    return out, np.asarray(landmarks, np.float32) * np.float32([size / w, size / h])


def align_frames(root, refs, landmarks, alignment: str, size: int, box_enlarge: float = 2.9):
    """Read and align frames: (images uint8 (n, size, size, 3), landmarks (n, 68, 2), ok (n,)).

    ``ok`` is False for frames that cannot be decoded (they stay black, NaN landmarks).
    """
    from .frames import UnreadableFrame, read_frame

    imgs = np.zeros((len(refs), size, size, 3), np.uint8)
    out_lm = np.full((len(refs), 68, 2), np.nan, np.float32)
    ok = np.zeros(len(refs), bool)
    for i, (ref, lm) in enumerate(zip(refs, landmarks)):
        try:
            img = read_frame(root, ref)
        except UnreadableFrame:
            continue
        imgs[i], out_lm[i] = align_face(img, lm, alignment, size, box_enlarge)
        ok[i] = True
    return imgs, out_lm, ok


def align_frames_job(args):
    """:func:`align_frames` on one tuple of arguments (for ``Pool.imap``)."""
    return align_frames(*args)
