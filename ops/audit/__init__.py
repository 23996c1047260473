"""``python -m ops.audit``: the accepted events with no final fate (ops/audit/cli.py)."""
