"""Fresh process: import the handler modules, then invoke each once (stubs, INBOUND_AUTH=none).

Run as a script by bench.run: ``_init_child.py OUT [ingest|retry|both]``; writes
{"import_s", "first_call_s", "total_s", "boto3_loaded"} to OUT.
"""

import json
import sys
import time
from pathlib import Path

sys.path[:0] = [
    str(Path(__file__).resolve().parents[1] / "layers" / "common"),
    str(Path(__file__).resolve().parents[1]),
]

from bench import workload  # noqa: E402  (the harness itself: stdlib only, not timed)

which = sys.argv[2] if len(sys.argv) > 2 else "both"
T0 = time.perf_counter()
workload.install_stubs()  # environment + runtime factories; imports richpanel_destination
ingest = workload.load_handler("ingest") if which in ("ingest", "both") else None
retry = workload.load_handler("retry") if which in ("retry", "both") else None
T1 = time.perf_counter()
if ingest is not None:
    body = json.dumps(workload.body_of("track"))
    answer = ingest(workload.proxy_event("/v1/track", body), workload.FakeContext())
    assert answer["statusCode"] == 200, answer
if retry is not None:
    retry(workload.sqs_event(), workload.FakeContext())
T2 = time.perf_counter()
Path(sys.argv[1]).write_text(
    json.dumps(
        {
            "import_s": T1 - T0,
            "first_call_s": T2 - T1,
            "total_s": T2 - T0,
            "boto3_loaded": "boto3" in sys.modules,
        }
    ),
    encoding="utf-8",
)
