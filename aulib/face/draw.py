"""Drawing faces for notebooks: landmarks, AU ROI centres, and per-AU maps over an image."""
from __future__ import annotations

import numpy as np


def show_face(ax, image, landmarks=None, title: str = "", centres=None, numbers: bool = False):
    """Image with optional 68 landmarks (red dots) and ROI centre pairs (yellow crosses)."""
    ax.imshow(image)
    if landmarks is not None:
        lm = np.asarray(landmarks)
        ax.plot(lm[:, 0], lm[:, 1], ".", color="red", ms=3)
        if numbers:
            for i, (x, y) in enumerate(lm):
                ax.text(x, y, str(i), fontsize=5, color="white")
    if centres is not None:
        c = np.asarray(centres).reshape(-1, 2)
        ax.plot(c[:, 0], c[:, 1], "x", color="yellow", ms=7, mew=2)
    ax.set_title(title, fontsize=9)
    ax.axis("off")
    return ax


def map_grid(image, maps, names, ncols: int = 6, cmap: str = "bwr", vmin=-1.0, vmax=1.0,
             alpha: float = 0.55, size: float = 2.0, title: str = ""):
    """A figure with one panel per AU: ``image`` under that AU's map (resized to the image)."""
    import cv2
    import matplotlib.pyplot as plt

    n = len(maps)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    h, w = image.shape[:2]
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k >= n:
            continue
        m = cv2.resize(np.asarray(maps[k], np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
        ax.imshow(image)
        ax.imshow(m, cmap=cmap, vmin=vmin, vmax=vmax, alpha=alpha)
        ax.set_title(names[k], fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
