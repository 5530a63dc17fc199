"""The tamper-evident audit trail: who did what, to which objects, under which policy."""
