"""Delivery policy: deliver, queue for retry, dead-letter, back off."""
