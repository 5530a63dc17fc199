"""Operational metrics (Prometheus) for the service: no member data, ever, in a label."""
