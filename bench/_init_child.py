"""Fresh process: import both handler modules, then invoke each once (stubs, INBOUND_AUTH=none).

Run as a script by bench.run; writes {"import_s", "first_call_s", "total_s"} to argv[1].
"""

import time

T0 = time.perf_counter()

import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path[:0] = [
    str(Path(__file__).resolve().parents[1] / "layers" / "common"),
    str(Path(__file__).resolve().parents[1]),
]

from bench import workload  # noqa: E402

workload.install_stubs()  # environment + runtime factories; imports richpanel_destination
ingest = workload.load_handler("ingest")
retry = workload.load_handler("retry")
T1 = time.perf_counter()
answer = ingest(
    workload.proxy_event("/v1/track", json.dumps(workload.body_of("track"))), workload.FakeContext()
)
assert answer["statusCode"] == 200, answer
retry(workload.sqs_event(), workload.FakeContext())
T2 = time.perf_counter()
Path(sys.argv[1]).write_text(
    json.dumps({"import_s": T1 - T0, "first_call_s": T2 - T1, "total_s": T2 - T0}), encoding="utf-8"
)
