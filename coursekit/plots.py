"""Figures that read well in the book's light and dark modes, and that nbval can compare.

The theme shows images on its page background, so a transparent figure with black text vanishes
in dark mode. Every figure here has an opaque white face, the Okabe-Ito colour-blind-safe cycle,
and fixed sizes and fonts so it renders the same on every machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import torch
from cycler import cycler
from matplotlib.figure import Figure

#: The Okabe-Ito palette: distinguishable with the common forms of colour blindness.
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]

COURSE_STYLE: dict[str, Any] = {
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "savefig.facecolor": "white",
    "savefig.transparent": False,
    "text.color": "black",
    "axes.labelcolor": "black",
    "axes.edgecolor": "#333333",
    "xtick.color": "#333333",
    "ytick.color": "#333333",
    "axes.prop_cycle": cycler(color=OKABE_ITO),
    "figure.dpi": 100,
    "font.size": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "image.cmap": "gray",
    "svg.hashsalt": "coursekit",  # stable ids in SVG output
}


def use_course_style() -> None:
    """Apply :data:`COURSE_STYLE` to matplotlib's global settings (call once per notebook)."""
    mpl.rcParams.update(COURSE_STYLE)  # type: ignore[arg-type]


def _to_numpy(image: object) -> np.ndarray:
    if isinstance(image, torch.Tensor):
        return image.detach().cpu().to(torch.float64).numpy()
    return np.asarray(image, dtype=np.float64)


def image_grid(
    images: Sequence[object] | torch.Tensor,
    titles: Sequence[str] | None = None,
    *,
    ncols: int = 8,
    cell_size: float = 1.3,
    cmap: str = "gray",
    vmin: float | None = None,
    vmax: float | None = None,
) -> Figure:
    """Show images in a grid with optional titles; returns the figure.

    ``images``: a sequence of (H, W) or (H, W, 3) arrays or tensors, or a tensor (N, H, W).
    """
    items = [_to_numpy(img) for img in images]
    if not items:
        raise ValueError("image_grid needs at least one image")
    if titles is not None and len(titles) != len(items):
        raise ValueError(f"{len(titles)} titles for {len(items)} images")
    ncols = max(1, min(ncols, len(items)))
    nrows = -(-len(items) // ncols)
    with mpl.rc_context(COURSE_STYLE):  # type: ignore[arg-type]
        fig, axes = plt.subplots(
            nrows,
            ncols,
            figsize=(cell_size * ncols, cell_size * nrows + 0.3 * (titles is not None)),
            squeeze=False,
        )
        for ax in axes.flat:
            ax.axis("off")
        for i, img in enumerate(items):
            ax = axes.flat[i]
            ax.imshow(img, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
            if titles is not None:
                ax.set_title(titles[i], fontsize=9)
        fig.tight_layout()
    return fig
