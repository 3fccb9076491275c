"""plots.show must hand IPython a real PNG whatever the backend, and close the figure."""

from goaldrift.experiments import plots


def test_show_displays_a_png_and_closes_the_figure(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    fig, ax = plots.panels(1)
    ax.plot([0, 1], [1, 0])
    plots.show(fig)
    assert len(shown) == 1 and shown[0].data[:8] == b"\x89PNG\r\n\x1a\n"
    assert not plots.plt.fignum_exists(fig.number)


def test_show_without_argument_uses_the_current_figure(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    fig, _ = plots.panels(2)
    plots.show()
    assert len(shown) == 1 and not plots.plt.fignum_exists(fig.number)
