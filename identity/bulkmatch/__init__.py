"""PDex $bulk-member-match: many members at once, matched asynchronously by a worker."""
