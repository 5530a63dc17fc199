"""Idempotency-Key on state-changing POSTs: a retry gets the stored answer, never a second write."""
