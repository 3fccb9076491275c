"""Put a matplotlib figure into the executed notebook as a PNG.

``goaldrift.plots`` selects the Agg backend, under which ``plt.show()`` in a
papermill kernel emits nothing and IPython has no PNG formatter for figures:
the figure would be silently missing from the book. ``show`` renders it
explicitly. (Belongs in ``plots``; kept apart until that module's owner
takes it.)
"""

from __future__ import annotations

import io


def show(fig, dpi: int = 110) -> None:
    """Display ``fig`` as a PNG image and close it."""
    import matplotlib.pyplot as plt
    from IPython.display import Image, display

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    display(Image(data=buf.getvalue(), format="png"))
