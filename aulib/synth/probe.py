"""A quick domain-shift probe: a linear AU detector trained in one SynthAU domain and tested
in others, so that a notebook (or a user) can check that the domains differ the way real
datasets do (a model trained on DISFA-like ``lab-a`` loses F1 on ``lab-b`` and more on
``wild``).

Faces are rendered with :func:`render_face`, aligned on the eyes with a similarity
transform (as a face pipeline would), turned into 32x32 normalised grey crops and fed to
one scikit-learn logistic regression per AU. Different identities in train and test.
"""
from __future__ import annotations

import cv2
import numpy as np
import pandas as pd

from .render import render_face


def _crop(img: np.ndarray, lm: np.ndarray) -> np.ndarray:
    el, er = lm[36:42].mean(0), lm[42:48].mean(0)
    d = er - el
    M = cv2.getRotationMatrix2D(tuple(float(v) for v in (el + er) / 2),
                                float(np.degrees(np.arctan2(d[1], d[0]))), 24.0 / float(np.hypot(*d)))
    M[:, 2] += np.array([32.0, 24.0]) - (el + er) / 2
    g = cv2.cvtColor(cv2.warpAffine(img, M, (64, 64)), cv2.COLOR_RGB2GRAY).astype(np.float32)
    g = cv2.resize((g - g.mean()) / (g.std() + 1e-6), (32, 32), interpolation=cv2.INTER_AREA)
    return g.ravel()


def sample_crops(n: int, domain: str, aus, first_identity: int, size: int = 96, seed: int = 0,
                 p_active: float = 0.35, bar=None):
    """(X (n, 1024), Y (n, len(aus)) 0/1): random AU combinations at intensity 1.5-5.
    ``bar``: a tqdm bar advanced by one per face rendered, or None."""
    rng = np.random.default_rng([seed, first_identity, len(domain)])
    X, Y = [], []
    for i in range(n):
        levels = {a: float(rng.uniform(1.5, 5.0)) for a in aus if rng.random() < p_active}
        img, lm = render_face(levels, identity=first_identity + i, domain=domain, size=size,
                              seed=seed + first_identity + i)
        X.append(_crop(img, lm))
        Y.append([a in levels for a in aus])
        if bar is not None:
            bar.update(1)
    return np.array(X), np.array(Y, int)


def domain_shift_probe(train_domain: str = "lab-a", test_domains=("lab-a", "lab-b", "wild"),
                       aus=("AU1", "AU4", "AU6", "AU12", "AU25"), n_train: int = 900,
                       n_test: int = 300, size: int = 96, seed: int = 0,
                       progress: bool = True) -> pd.DataFrame:
    """F1 (percent, threshold 0.5) and ROC AUC per AU of a linear probe trained on
    ``train_domain`` and tested on each of ``test_domains`` (unseen identities).

    Rendering the faces takes most of the time (tens of seconds at the defaults on two
    cores): ``progress`` shows a ``tqdm.auto`` bar over every face rendered (a widget in
    Jupyter, text elsewhere), its label naming the domain being rendered."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score, roc_auc_score
    bar = _Progress(n_train + n_test * len(test_domains), f"probe: {train_domain} train faces", progress)
    Xtr, Ytr = sample_crops(n_train, train_domain, aus, 0, size, seed, bar=bar)
    models = [LogisticRegression(C=0.05, max_iter=500).fit(Xtr, Ytr[:, j])
              if 0 < Ytr[:, j].sum() < len(Ytr) else None for j in range(len(aus))]
    rows = []
    for dom in test_domains:
        bar.set_description(f"probe: {dom} test faces")
        Xte, Yte = sample_crops(n_test, dom, aus, 1_000_000, size, seed, bar=bar)
        for j, au in enumerate(aus):
            if models[j] is None:
                continue
            p = models[j].predict_proba(Xte)[:, 1]
            both = 0 < Yte[:, j].sum() < len(Yte)
            rows.append({"train": train_domain, "test": dom, "AU": au,
                         "F1": 100 * f1_score(Yte[:, j], p > 0.5, zero_division=0),
                         "AUC": roc_auc_score(Yte[:, j], p) if both else np.nan})
    bar.done(f"probe: rendered {n_train} {train_domain} training faces and {n_test} test faces in each "
             f"of {', '.join(test_domains)}")
    return pd.DataFrame(rows)


class _Progress:
    """A ``tqdm.auto`` bar (``update``, ``set_description``) whose ``done(text)`` leaves one
    line of text. In Jupyter the bar is an ipywidget shown through a display handle that
    ``done`` replaces by the text, so an executed notebook keeps that line rather than the
    bar's text at its start (``0%``), which is all a static copy of a widget shows."""

    def __init__(self, total: int, desc: str, enabled: bool = True):
        from tqdm.auto import tqdm
        from tqdm.notebook import tqdm as notebook_tqdm

        self.handle = None
        if enabled and issubclass(tqdm, notebook_tqdm):
            from IPython.display import display

            self.bar = tqdm(total=total, desc=desc, unit="face", display=False)
            self.handle = display(self.bar.container, display_id=True)
        else:
            self.bar = tqdm(total=total, desc=desc, unit="face", disable=not enabled)

    def update(self, n: int = 1) -> None:
        self.bar.update(n)

    def set_description(self, desc: str) -> None:
        self.bar.set_description(desc)

    def done(self, text: str) -> None:
        self.bar.set_description("probe: done")
        self.bar.close()
        if self.handle is not None:
            from IPython.display import Pretty

            self.handle.update(Pretty(f"{text} ({self.bar.format_dict['elapsed']:.0f} s)"))
