"""Sphinx extension: small corrections to the pages Jupyter Book writes.

Loaded through ``sphinx: local_extensions:`` in ``_config.yml``.

Duplicate inline scripts. Extensions that add an inline ``<script>`` once the
HTML builder exists (sphinx-togglebutton's selector, sphinx-thebe's settings)
end up on every page twice under Sphinx 7.4: once as given and once more when
the builder copies the registry before writing (``None`` and ``""`` file names
do not compare equal). The second ``const THEBE_JS_URL = ...`` then throws
"Identifier 'THEBE_JS_URL' has already been declared" in the browser. Each
page keeps the first of any identical scripts.

Hidden code cells in the single-page build. sphinx-exercise registers its nodes
for the ``singlehtml`` builder by name, so Sphinx looks up that builder's
visitors under ``singlehtml`` only, and myst-nb's hidden-cell node (registered
for ``html``) has none there: ``make pdf`` stops on the first ``hide-input``
cell. The same visitors are registered for ``singlehtml`` too.
"""

from __future__ import annotations

from typing import Any


def _script_key(script: Any) -> tuple:
    filename = getattr(script, "filename", script) or ""
    priority = getattr(script, "priority", 500)
    attributes = getattr(script, "attributes", {}) or {}
    return (filename, priority, tuple(sorted((str(k), str(v)) for k, v in attributes.items())))


def drop_duplicate_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    seen: set[tuple] = set()
    kept = []
    for script in scripts:
        key = _script_key(script)
        if key not in seen:
            seen.add(key)
            kept.append(script)
    # In place: Sphinx restores this list after each page.
    scripts[:] = kept


def setup(app):
    app.setup_extension("myst_nb")
    from myst_nb.sphinx_ import HideCodeCellNode, depart_HideCellInput, visit_HideCellInput

    app.add_node(HideCodeCellNode, override=True,
                 html=(visit_HideCellInput, depart_HideCellInput),
                 singlehtml=(visit_HideCellInput, depart_HideCellInput))
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
