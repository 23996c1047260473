"""How Segment calls become Richpanel calls: a declarative table and its interpreter."""
