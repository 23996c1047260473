"""Segment to Richpanel destination: the domain code shared by both Lambdas."""
