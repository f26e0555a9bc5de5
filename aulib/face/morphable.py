"""A linear 3D morphable model of the 68 landmarks and its fit to detected landmarks (GLEE-Net's
3D global branch, Hu et al., AAAI 2023, §3.3, eqs. 2-3).

Model (eq. 2): ``M(s, e) = M0 + sum_i S_i (f_s)_i + sum_j E_j (f_exp)_j`` at the 68 landmark
vertices: a mean (68, 3), ``N_s`` shape and ``N_e`` expression bases (paper: N_s = 60 from LSFM
normalised to [-3, 3], N_e = 51 blendshapes sculpted on LSFM).

Fit (eq. 3): minimise over ``f_s``, ``f_exp`` and the head pose ``xi`` (rotation, translation)
``sum_i D(p_i, P(M_i, xi)) + lambda_e |f_exp|^2 + lambda_s |f_s|^2`` with a perspective camera,
``lambda_e = lambda_s = 1e-4``, D the squared pixel distance - for the non-endpoint landmarks of
contours "the point-to-curve pixel distance between the projected 3D landmark point and the
detected 2D face contour curve" - solved by Levenberg-Marquardt. Here LM runs on a whole batch
at once (one damped normal-equation solve per frame per iteration, analytic Jacobian, per-frame
accept/reject and damping); the point-to-curve distance is the distance to the detected
curve's tangent line at that landmark (the tangent from its two neighbours on the curve).

Choices the paper leaves open (``aulib.papers.gleenet.deviation_table``): which contours
(jaw line, both eyebrows, outer and inner lip; endpoints = jaw ends, brow ends, mouth corners);
the camera (focal length ``focal`` in units of the face's RMS radius; landmarks centred and
scaled per frame, residuals reported in pixels of the input); rotation updates as left-multiplied
small rotations; initialisation (frontal face at distance ``focal``).

Model data: :func:`load_model` reads the user's model file (paper profile: LSFM + 51
blendshapes, or ICT-FaceKit's identity and ARKit-style expression shapes at the 68 landmark
vertices; methods.md D.2); :func:`build_from_landmarks` builds a small model from the 2D
landmarks of a training split only (CPU profiles). Fits are cached per frame
(:func:`fit_cached`).
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

#: eq. 3's regularisation weights (paper 002 §3.3)
LAMBDA_E = 1e-4
LAMBDA_S = 1e-4
#: (landmark indices, closed) of the curves whose inner points use the point-to-curve distance (iBUG 68)
CONTOURS = (
    (tuple(range(0, 17)), False),    # jaw line
    (tuple(range(17, 22)), False),   # right eyebrow (image left)
    (tuple(range(22, 27)), False),   # left eyebrow
    (tuple(range(48, 60)), True),    # outer lip
    (tuple(range(60, 68)), True),    # inner lip
)
#: points of closed contours treated as endpoints (mouth corners)
CLOSED_ENDPOINTS = (48, 54, 60, 64)
MODEL_KEYS = ("mean", "shape_basis", "expr_basis")
#: bumped when the fit's algorithm changes, so cached fits (:func:`fit_cached`) are redone
FIT_VERSION = 2


def curve_points() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(indices, previous neighbour, next neighbour) of the non-endpoint contour landmarks."""
    idx, prev, nxt = [], [], []
    for pts, closed in CONTOURS:
        n = len(pts)
        for k, i in enumerate(pts):
            if (not closed and k in (0, n - 1)) or i in CLOSED_ENDPOINTS:
                continue
            idx.append(i)
            prev.append(pts[(k - 1) % n])
            nxt.append(pts[(k + 1) % n])
    return np.array(idx), np.array(prev), np.array(nxt)


@dataclass
class MorphableModel:
    """Mean (68, 3), shape basis (N_s, 68, 3) and expression basis (N_e, 68, 3) at the landmark
    vertices, in the model's length unit (x right, y down, z away from the camera)."""
    mean: np.ndarray
    shape_basis: np.ndarray
    expr_basis: np.ndarray
    source: str = ""

    def __post_init__(self):
        self.mean = np.asarray(self.mean, np.float64)
        self.shape_basis = np.asarray(self.shape_basis, np.float64).reshape(-1, 68, 3)
        self.expr_basis = np.asarray(self.expr_basis, np.float64).reshape(-1, 68, 3)
        if self.mean.shape != (68, 3):
            raise ValueError(f"a morphable model's mean must be the 68 landmark vertices (68, 3), found {self.mean.shape}")

    @property
    def n_shape(self) -> int:
        return len(self.shape_basis)

    @property
    def n_expr(self) -> int:
        return len(self.expr_basis)

    def vertices(self, f_s, f_exp) -> np.ndarray:
        """Eq. 2 at the landmarks: (B, N_s), (B, N_e) -> (B, 68, 3)."""
        return (self.mean + np.einsum("bk,kvc->bvc", np.atleast_2d(f_s), self.shape_basis)
                + np.einsum("bk,kvc->bvc", np.atleast_2d(f_exp), self.expr_basis))

    def digest(self) -> str:
        h = hashlib.sha256()
        for a in (self.mean, self.shape_basis, self.expr_basis):
            h.update(np.ascontiguousarray(a, np.float64).tobytes())
        return h.hexdigest()[:16]

    def save(self, path) -> Path:
        path = Path(path)
        np.savez(path, mean=self.mean, shape_basis=self.shape_basis, expr_basis=self.expr_basis,
                 source=np.array(self.source))
        return path


def load_model(path) -> MorphableModel:
    """A morphable model file: ``.npz`` with ``mean`` (68, 3), ``shape_basis`` (N_s, 68, 3) and
    ``expr_basis`` (N_e, 68, 3) - the user's LSFM mean/basis and blendshapes (or ICT-FaceKit's
    shapes) taken at the 68 landmark vertices.

    Raises FileNotFoundError naming the file, ValueError naming each missing or mis-shaped array."""
    p = Path(os.fspath(path)).expanduser()
    if not p.is_file():
        raise FileNotFoundError(
            f"morphable-model file not found at {p}. GLEE-Net's 3D branch (paper profile) needs an .npz with "
            "mean (68, 3), shape_basis (N_s, 68, 3) and expr_basis (N_e, 68, 3) at the 68 landmark vertices: LSFM's "
            "mean and 60 identity components with 51 blendshapes (the paper), or ICT-FaceKit's identity and expression "
            "shapes (MIT; methods.md D.2). Make it from the model you hold and pass its path (morphable_model).")
    try:
        z = np.load(p, allow_pickle=False)
    except Exception as e:  # noqa: BLE001
        raise ValueError(f"{p} is not an .npz archive ({type(e).__name__}); expected mean, shape_basis, expr_basis") from e
    missing = [k for k in MODEL_KEYS if k not in z.files]
    if missing:
        raise ValueError(f"{p} lacks {', '.join(missing)} (found {', '.join(z.files) or 'nothing'}); expected "
                         "mean (68, 3), shape_basis (N_s, 68, 3), expr_basis (N_e, 68, 3)")
    bad = [f"{k} {z[k].shape}" for k, want in (("mean", 2), ("shape_basis", 3), ("expr_basis", 3))
           if z[k].ndim != want or z[k].shape[-2:] != (68, 3)]
    if bad:
        raise ValueError(f"{p}: mis-shaped arrays {', '.join(bad)}; expected mean (68, 3), shape_basis "
                         "(N_s, 68, 3), expr_basis (N_e, 68, 3)")
    return MorphableModel(z["mean"], z["shape_basis"], z["expr_basis"],
                          str(z["source"]) if "source" in z.files else p.name)


# ---------------------------------------------------------------------------------------
# A small model from training-split landmarks (CPU profiles)
def _normalise(lm: np.ndarray) -> np.ndarray:
    """Centre each (68, 2) shape and scale it to unit RMS radius."""
    c = lm - lm.mean(axis=1, keepdims=True)
    return c / np.sqrt((c ** 2).sum(-1).mean(-1))[:, None, None]


def procrustes_2d(shapes: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Similarity-align normalised (N, 68, 2) shapes to ``reference`` (rotation only; both are
    centred and unit-RMS)."""
    m = np.einsum("nvi,vj->nij", shapes, reference)
    u, _, vt = np.linalg.svd(m)
    d = np.sign(np.linalg.det(u @ vt))
    u[:, :, -1] *= d[:, None]
    return np.einsum("nvi,nij->nvj", shapes, u @ vt)


def template_depth(xy: np.ndarray, depth: float = 0.8) -> np.ndarray:
    """A generic depth for a frontal 2D mean shape (unit RMS radius): an ellipsoidal face
    (``depth`` at the centre, 0 at the outline) with the nose ridge (27-30) pushed forward.
    Negative z is towards the camera."""
    ax, ay = np.abs(xy[:, 0]).max() * 1.15, np.abs(xy[:, 1]).max() * 1.15
    r2 = np.clip((xy[:, 0] / ax) ** 2 + (xy[:, 1] / ay) ** 2, 0, 1)
    z = -depth * np.sqrt(1 - r2)
    z[27:31] -= np.linspace(0.05, 0.3, 4) * depth
    z[31:36] -= 0.1 * depth
    return z


def build_from_landmarks(landmarks, subjects, neutral, n_shape: int = 60, n_expr: int = 51,
                         min_var: float = 1e-6, source: str = "") -> MorphableModel:
    """A small 3DMM from the 2D landmarks of a training split only (never test subjects, never
    the generator's own expression fields).

    ``landmarks``: (N, 68, 2) detected landmarks; ``subjects``: (N,) subject ids; ``neutral``:
    (N,) True for frames with no AU active (from the training labels). Each shape is centred,
    scaled to unit RMS radius and rotated onto the mean (2D Procrustes). Mean: the mean neutral
    shape with :func:`template_depth`. Shape basis: PCA of the subjects' mean neutral shapes
    (at most ``n_shape`` components, and fewer than subjects). Expression basis: PCA of each
    frame's displacement from its subject's neutral mean (at most ``n_expr``). Both bases are
    in-plane (z = 0) and scaled by each component's standard deviation, so coefficients are
    about N(0, 1) on the training split (the paper normalises LSFM's to [-3, 3]).

    Raises ValueError when fewer than 2 subjects have neutral frames or no expressive frame is left.
    """
    lm = np.asarray(landmarks, np.float64)
    subjects, neutral = np.asarray(subjects).astype(str), np.asarray(neutral, bool)
    ok = np.isfinite(lm).all(axis=(1, 2))
    lm, subjects, neutral = lm[ok], subjects[ok], neutral[ok]
    shapes = _normalise(lm)
    ref = shapes[neutral].mean(0) if neutral.any() else shapes.mean(0)
    for _ in range(3):
        shapes = procrustes_2d(shapes, _normalise(ref[None])[0])
        ref = shapes[neutral].mean(0) if neutral.any() else shapes.mean(0)
    ids = [s for s in np.unique(subjects) if (neutral & (subjects == s)).any()]
    if len(ids) < 2:
        raise ValueError(f"building a morphable model needs neutral frames (no AU active) of at least 2 subjects; "
                         f"found {len(ids)} among {len(np.unique(subjects))} subject(s) and {len(lm)} frames")
    id_mean = {s: shapes[neutral & (subjects == s)].mean(0) for s in ids}
    ident = np.stack([id_mean[s] for s in ids])
    mean2 = ident.mean(0)
    keep = np.isin(subjects, ids) & ~neutral
    if not keep.any():
        raise ValueError("building a morphable model needs expressive frames (some AU active) of the subjects "
                         "with neutral frames; found none")
    disp = shapes[keep] - np.stack([id_mean[s] for s in subjects[keep]])

    def pca(x, k):
        x = x.reshape(len(x), -1)
        x = x - x.mean(0) if len(x) > 1 else x
        _, s, vt = np.linalg.svd(x, full_matrices=False)
        sd = s / np.sqrt(max(1, len(x) - 1))
        k = int(min(k, (sd > np.sqrt(min_var)).sum()))
        basis = (vt[:k] * sd[:k, None]).reshape(k, 68, 2)
        return np.concatenate([basis, np.zeros((k, 68, 1))], -1)

    mean = np.concatenate([mean2, template_depth(mean2)[:, None]], -1)
    return MorphableModel(mean, pca(ident - mean2, min(n_shape, len(ids) - 1)), pca(disp, n_expr),
                          source or f"built from {len(lm)} training-split frames of {len(ids)} subjects")


# ---------------------------------------------------------------------------------------
# Fitting
@dataclass
class Fit:
    """Result of :func:`fit_landmarks` for B frames."""
    expr: np.ndarray        # (B, N_e) expression coefficients f_exp
    shape: np.ndarray       # (B, N_s) shape coefficients f_s
    rotation: np.ndarray    # (B, 3, 3)
    translation: np.ndarray  # (B, 3), model units (the face's RMS radius = 1)
    rms: np.ndarray         # (B,) RMS landmark residual in input pixels (point-to-curve rows included)
    iterations: int


def _skew(v):
    z = torch.zeros_like(v[..., 0])
    return torch.stack([torch.stack([z, -v[..., 2], v[..., 1]], -1),
                        torch.stack([v[..., 2], z, -v[..., 0]], -1),
                        torch.stack([-v[..., 1], v[..., 0], z], -1)], -2)


def _rodrigues(w):
    theta = w.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    k = _skew(w / theta)
    th = theta[..., None]
    eye = torch.eye(3, dtype=w.dtype, device=w.device).expand_as(k)
    return eye + torch.sin(th) * k + (1 - torch.cos(th)) * (k @ k)


def project(model: MorphableModel, f_s, f_exp, rotation, translation, focal: float = 10.0):
    """Perspective projection of the model's landmarks (torch, batched): u = focal * X / Z."""
    dt = torch.float64
    mean = torch.as_tensor(model.mean, dtype=dt)
    v = mean + torch.einsum("bk,kvc->bvc", torch.as_tensor(f_s, dtype=dt), torch.as_tensor(model.shape_basis, dtype=dt)) \
        + torch.einsum("bk,kvc->bvc", torch.as_tensor(f_exp, dtype=dt), torch.as_tensor(model.expr_basis, dtype=dt))
    x = v @ torch.as_tensor(rotation, dtype=dt).transpose(1, 2) + torch.as_tensor(translation, dtype=dt)[:, None]
    return focal * x[..., :2] / x[..., 2:3]


def fit_landmarks(model: MorphableModel, landmarks, lambda_s: float = LAMBDA_S, lambda_e: float = LAMBDA_E,
                  iterations: int = 15, focal: float = 10.0, contour: bool = True, tol: float = 1e-4,
                  dtype=torch.float32) -> Fit:
    """Fit the model to detected landmarks (eq. 3) by Levenberg-Marquardt, all frames at once.

    ``landmarks``: (B, 68, 2) pixel coordinates of one image each. Each frame is centred and
    scaled by its landmarks' RMS radius ``s`` for the camera (a frontal face at distance
    ``focal`` projects at about unit radius), while the energy is in pixels (residuals times
    ``s``), so the regularisation weights keep eq. 3's meaning (pixel^2 vs coefficient^2).
    ``contour``: point-to-curve distances for the non-endpoint contour landmarks
    (:data:`CONTOURS`), else point-to-point for all 68. Stops when every frame has converged
    (a trial step changed its energy by less than ``tol``, relative, or 1e-3 px^2) or stalled (a
    rejected step with the damping grown past 1e4), or after ``iterations``. ``dtype``:
    float32 (default; twice as fast as float64, the coordinates are normalised) or float64.

    Returns a :class:`Fit`. Raises ValueError for a shape other than (B, 68, 2) or non-finite input.
    """
    dt = dtype
    lm = torch.as_tensor(np.asarray(landmarks, np.float64)).to(dt)
    if lm.ndim != 3 or lm.shape[1:] != (68, 2):
        raise ValueError(f"fit_landmarks expects (B, 68, 2) landmarks, got {tuple(lm.shape)}")
    if not torch.isfinite(lm).all():
        raise ValueError("fit_landmarks got non-finite landmarks (frames without a face must be left out)")
    B = lm.shape[0]
    centre = lm.mean(1, keepdim=True)
    scale = ((lm - centre) ** 2).sum(-1).mean(-1).sqrt().clamp_min(1e-9)        # (B,)
    p = (lm - centre) / scale[:, None, None]
    mean = torch.as_tensor(model.mean, dtype=dt)
    S = torch.as_tensor(model.shape_basis, dtype=dt)
    E = torch.as_tensor(model.expr_basis, dtype=dt)
    basis = torch.cat([S, E]).permute(1, 2, 0)                                   # (68, 3, K)
    ns, K = model.n_shape, model.n_shape + model.n_expr
    lam = torch.cat([torch.full((ns,), lambda_s), torch.full((K - ns,), lambda_e)]).to(dt)
    idx, prv, nxt = curve_points() if contour else (np.zeros(0, int),) * 3
    pt = np.setdiff1d(np.arange(68), idx)
    tang = p[:, nxt] - p[:, prv]
    normal = torch.stack([-tang[..., 1], tang[..., 0]], -1)
    normal = normal / normal.norm(dim=-1, keepdim=True).clamp_min(1e-12)        # (B, n_curve, 2)

    def residuals(coef, R, t, jac):
        v = mean + torch.einsum("vck,bk->bvc", basis, coef)
        rv = v @ R.transpose(1, 2)
        X = rv + t[:, None]
        z = X[..., 2:3]
        uv = focal * X[..., :2] / z
        d = (uv - p) * scale[:, None, None]
        r = torch.cat([d[:, pt].reshape(B, -1), (d[:, idx] * normal).sum(-1)], 1)
        if not jac:
            return r
        # d(uv)/dX has rows [f/Z, 0, -f X/Z^2] and [0, f/Z, -f Y/Z^2]: applied term by term
        fz = (focal / z)[..., None]                                              # (B, 68, 1, 1)
        dX = torch.cat([-_skew(rv), torch.eye(3, dtype=dt).expand(B, 68, 3, 3),
                        torch.einsum("bij,vjk->bvik", R, basis)], -1)          # (B, 68, 3, 6 + K)
        xz = (X[..., :2] / z)[..., None]                                         # (B, 68, 2, 1)
        J = fz * (dX[:, :, :2] - xz * dX[:, :, 2:3]) * scale[:, None, None, None]  # (B, 68, 2, 6 + K)
        Jc = (J[:, idx] * normal[..., None]).sum(2)
        return r, torch.cat([J[:, pt].reshape(B, -1, 6 + K), Jc], 1)

    def energy(r, coef):
        return (r ** 2).sum(1) + (lam * coef ** 2).sum(1)

    coef = torch.zeros(B, K, dtype=dt)
    R = torch.eye(3, dtype=dt).repeat(B, 1, 1)
    t = torch.zeros(B, 3, dtype=dt)
    t[:, 2] = focal
    mu = torch.full((B,), 1e-3, dtype=dt)
    r, J = residuals(coef, R, t, True)
    cost = energy(r, coef)
    reg = torch.cat([torch.zeros(6, dtype=dt), lam])
    done = torch.zeros(B, dtype=torch.bool)
    it = 0
    for it in range(1, iterations + 1):
        A = J.transpose(1, 2) @ J + torch.diag_embed(reg).expand(B, -1, -1)
        g = (J.transpose(1, 2) @ r[..., None])[..., 0]
        g[:, 6:] += lam * coef
        diag = torch.diagonal(A, dim1=1, dim2=2)
        damped = A + torch.diag_embed(mu[:, None] * diag + 1e-9)
        step = -torch.linalg.solve(damped, g)
        R_new = _rodrigues(step[:, :3]) @ R
        t_new = t + step[:, 3:6]
        c_new = coef + step[:, 6:]
        r_new = residuals(c_new, R_new, t_new, False)
        cost_new = energy(r_new, c_new)
        ok = torch.isfinite(cost_new) & (cost_new < cost)
        # converged: the trial energy differs from the current one by less than tol (relative) or
        # 1e-3 px^2 (accepted or not: in float32 the last steps flip between both); sticky per frame
        done |= torch.isfinite(cost_new) & ((cost_new - cost).abs() <= tol * cost + 1e-3)
        done |= ~ok & (mu >= 1e4)
        R = torch.where(ok[:, None, None], R_new, R)
        t = torch.where(ok[:, None], t_new, t)
        coef = torch.where(ok[:, None], c_new, coef)
        mu = torch.where(ok, (mu / 3).clamp_min(1e-9), (mu * 4).clamp_max(1e9))
        cost = torch.where(ok, cost_new, cost)
        if done.all():   # every frame has converged or stalled
            break
        r, J = residuals(coef, R, t, True)
    r = residuals(coef, R, t, False)
    rms = ((r ** 2).sum(1) / r.shape[1]).sqrt()
    return Fit(coef[:, ns:].double().numpy(), coef[:, :ns].double().numpy(), R.double().numpy(), t.double().numpy(),
               rms.double().numpy(), it)


def fit_cached(model: MorphableModel, keys, landmarks, name: str, batch_size: int = 512, **fit_kw) -> np.ndarray:
    """Expression coefficients (N, N_e) of frames ``keys`` (e.g. frame paths) with ``landmarks``
    (N, 68, 2), fitted once per frame and model and kept in
    ``<cache>/morphable/<name>/<model digest + settings>.npz``; frames already there are read back."""
    from aulib import config as aconfig

    keys = [str(k) for k in keys]
    tag = hashlib.sha256(f"{model.digest()}|{sorted(fit_kw.items())}|{FIT_VERSION}".encode()).hexdigest()[:16]
    path = aconfig.cache_dir("morphable", name) / f"{tag}.npz"
    have: dict[str, np.ndarray] = {}
    if path.is_file():
        z = np.load(path, allow_pickle=False)
        have = dict(zip(z["keys"].tolist(), z["expr"]))
    todo = [i for i, k in enumerate(keys) if k not in have]
    if todo:
        lm = np.asarray(landmarks, np.float64)
        for s in range(0, len(todo), batch_size):
            part = todo[s:s + batch_size]
            f = fit_landmarks(model, lm[part], **fit_kw)
            have.update({keys[i]: e for i, e in zip(part, f.expr)})
        with aconfig.file_lock(path.with_suffix(".lock")):
            tmp = path.with_name(path.stem + f".{os.getpid()}.tmp.npz")
            np.savez(tmp, keys=np.array(list(have)), expr=np.stack(list(have.values())))
            os.replace(tmp, path)
    return np.stack([have[k] for k in keys]).astype(np.float32) if keys else np.zeros((0, model.n_expr), np.float32)
