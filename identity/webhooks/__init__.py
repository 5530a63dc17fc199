"""Per-client webhooks: a caller learns when a review of its request settles."""
