"""Redrive: move dead-lettered messages back to the retry queue (``python -m ops.redrive``).

- selection: which messages (reason, Richpanel status) and the report of what happened;
- move: the move done here (receive, send, delete, release); task: SQS's own move task;
- targets: which queues (the local stack, a deployed stack, URLs) and the SQS client;
- console and cli: progress lines, signals, and the command line.
"""
