"""The gate: a reference enforcement point in front of a FHIR server. A retrieval passes only with
a valid access token and an active match token issued to the same client, within that member's
compartment and consent. Every decision is reported to identity's audit trail (POST
/v1/gate-events) and logged as one JSON line without PHI.

identity's side is `endpoints.py`/`service.py`/`schemas.py`; the gate itself is `proxy.py`, with
its pure rules in `compartment.py` and `labels.py`, and its calls to identity in
`identity_client.py`.
"""
