"""Registered clients: the payer systems and FHIR servers allowed to ask for access tokens."""
