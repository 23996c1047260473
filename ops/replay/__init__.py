"""Replay: backfill history into Richpanel, or send a day again after a fix
(``python -m ops.replay``, ``make replay``; docs/operations.md#backfill-and-replay).

- sources: where events come from (a folder or s3:// prefix of Segment's S3 destination
  archive, .jsonl/.json/.gz files, stdin), line by line with ``file:line``;
- filters: call type, event names, time range, userIds, order history;
- checkpoint: which lines are done, saved atomically after every acknowledged batch;
- sender: batches to the target's /v1/batch, rate limit, backoff, batch sizing;
- dryrun: validate and map locally with the layer's own functions, send nothing;
- run and cli: the loop, the progress bar, the summary, and the command line.
"""
