"""Offline training with splink: the only package that imports it (see ARCHITECTURE.md, rule 5)."""
