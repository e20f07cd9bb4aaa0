"""Figure handling every plot shares: the accepted file types, and deterministic PNG/SVG bytes."""

from __future__ import annotations

import io
from pathlib import Path

from octprofile.errors import BadValueError

PLOT_SUFFIXES = (".png", ".svg")


def plot_format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in PLOT_SUFFIXES:
        raise BadValueError(f"plot file {str(path)!r} must end in .png or .svg")
    return suffix[1:]


def figure_bytes(fig, fmt: str) -> bytes:
    """The figure as PNG or SVG bytes, without the date or software stamps that would change them run to run."""
    out = io.BytesIO()
    metadata = {"Date": None} if fmt == "svg" else {"Software": None}
    # 200 dpi: sharp in a two-column paper at full width; SVG is resolution-free
    fig.savefig(out, format=fmt, bbox_inches="tight", metadata=metadata, dpi=200)
    return out.getvalue()
