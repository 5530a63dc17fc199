"""Who is calling: access tokens, scopes, registered clients and the token endpoint."""
