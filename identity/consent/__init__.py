"""Member consent to disclosure (HRex Consent): whether one can be honoured, and what it allows."""
