"""The AdminHub: staff pages across every app (overview, run details, strategies, tools, ...).

A presentation layer only: it reads through the apps' selectors (and its own cross-app selectors in
``selectors.py``) and writes nothing. See docs/hub.md.
"""
