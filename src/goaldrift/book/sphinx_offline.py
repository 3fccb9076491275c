"""A Sphinx extension that keeps the site offline and its console clean.

Jupyter Book 1.x always loads sphinx-thebe, which writes its configuration
(with a CDN URL for thebe) into every page, twice under Jupyter Book, so the
browser reports "Identifier 'THEBE_JS_URL' has already been declared". The
book has no live-code cells, so thebe's page setup is switched off here.
"""

from __future__ import annotations


def setup(app):
    for event in ("env-before-read-docs", "doctree-resolved"):
        listeners = app.events.listeners.get(event, [])
        app.events.listeners[event] = [
            listener for listener in listeners
            if getattr(listener.handler, "__module__", "") != "sphinx_thebe"
        ]
    return {"parallel_read_safe": True, "parallel_write_safe": True}
