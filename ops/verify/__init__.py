"""Verify: prove arrival in Richpanel, not only a 200 (``python -m ops.verify``).

- target: where to send and read back (the local stack's sandbox, or Richpanel);
- probes: the run's identify, track, page and order, and how each shows in a customer;
- readback: the REST read-back, polled until every probe arrived or the timeout;
- report and redact: the progress line, the table, the UI steps, secrets masked;
- cli: the command line and its exit statuses.
"""
