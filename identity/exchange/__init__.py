"""Payer-to-payer exchange: HRex $member-match and PDex $bulk-member-match, the old payer's side."""
