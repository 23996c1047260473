"""What the functions tell operators: PII-safe logs (and, later, metrics)."""
