"""`identity dedupe`: probable duplicate enrolments in a tenant's member master, for stewards.

Kept free of imports: the service's metrics read `STAGE` without pulling in the training
libraries the rest of this package needs."""

# The stage of the decisions dedupe writes (one per cluster, each with its review item): not a
# request anyone made, so request-based indicators leave them out.
STAGE = "dedupe"
