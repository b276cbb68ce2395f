"""`headcount-agent profile`: the hardware latency lookup table (latency vs kept filters, per layer)."""
