"""``python -m ops.trace``: every log line about one event, and its fate (docs/operations.md,
"Find one event"). ``python -m ops.audit`` lists the accepted events with no final fate."""
