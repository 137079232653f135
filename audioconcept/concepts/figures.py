"""matplotlib for the explanation PNGs, behind a one-line error that names the light `plots` extra."""

from __future__ import annotations


def pyplot(purpose: str):
    """matplotlib.pyplot on the Agg backend, or MissingExtra naming the `plots` extra (matplotlib alone; never
    `train`, which pulls in torch)."""
    try:
        import matplotlib
    except ImportError:
        from audioconcept.errors import MissingExtra

        raise MissingExtra("matplotlib", "plots", purpose) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
