"""`headcount-agent bench`: every chosen model variant timed on every chosen device."""
