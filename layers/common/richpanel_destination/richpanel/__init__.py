"""Richpanel's event-ingest API: wire format, HTTP client and outcome classification."""
