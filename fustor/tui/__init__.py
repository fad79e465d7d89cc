"""``fustor tui``: the operator console (Textual), attached over the control plane.

Layers: ``model`` (pure view-model: rows, formatting, sorting, filters,
paging, diffs), ``source`` (the data-source interface), ``connection``
(the real source: a reconnecting control-plane client), ``fake`` (a fixed
source for snapshots and screenshots), ``widgets`` / ``screens`` / ``app``
(rendering only), ``attach`` (finding the URL and key from a config home).
"""
