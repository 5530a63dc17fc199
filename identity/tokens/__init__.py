"""Match tokens: issued by a confident, consented match; introspected by FHIR servers; revoked by
their holder, the tenant, or automatically when the match or the consent goes away."""
