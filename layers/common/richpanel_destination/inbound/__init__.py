"""What arrives: request decoding, Segment call schemas and validation."""
