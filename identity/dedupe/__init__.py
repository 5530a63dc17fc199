"""`identity dedupe`: probable duplicate enrolments in a tenant's member master, for stewards."""
