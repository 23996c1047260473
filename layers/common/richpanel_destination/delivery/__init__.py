"""Delivery policy: deliver, park for retry, dead-letter, back off."""
