"""Retention: a decision's demographics are kept for a configured period, then purged."""
