"""`make bench` (issue 7): init, CPU per event, batch delivery, memory, retry drain,
DynamoDB units per event (bench/dynamodb.py), and Richpanel hanging / a 429 storm
(bench/resilience.py, issue 17), replay throughput (bench/replay.py, issue 20).

``python -m bench.run`` from the repo root. Every measure runs in a fresh child process;
prints a table, writes bench/results/results.json and bench/results/bench.png.
``python -m bench.run dynamodb`` runs only the DynamoDB units and updates results.json;
``python -m bench.run resilience`` likewise the breaker and pacing measures, ``python -m
bench.run replay`` the replay throughput.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (str(ROOT / "layers" / "common"), str(ROOT)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

RESULTS = ROOT / "bench" / "results"
INIT_RUNS = 7
INIT_KINDS = ("both", "ingest", "retry")  # handler modules loaded in the fresh process
BATCH, SEQUENTIAL_BATCH, DELAY_MS, DRAIN = 500, 50, 50, 200
BT_CHUNK = 50  # RICHPANEL_BATCH_SIZE for the /bt run (Magento's chunk size)
LAMBDA_MB = 128


def child(args: list[str], script: bool = False) -> dict[str, Any]:
    """Run one measure in a fresh process; its stdout (handler logs) is discarded."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = handle.name
    command = (
        [sys.executable, *args[:1], out, *args[1:]]
        if script
        else [sys.executable, "-m", "bench.measures", args[0], out, *args[1:]]
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "common"), str(ROOT)]),
    }
    done = subprocess.run(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{args} failed:\n{done.stderr[-3000:]}")
    try:
        return dict(json.loads(Path(out).read_text(encoding="utf-8")))
    finally:
        os.unlink(out)


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model or platform.processor(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def measure() -> dict[str, Any]:
    r: dict[str, Any] = {"machine": machine()}
    print("1/9 init ...", file=sys.stderr, flush=True)
    # As the built layer does: bytecode ready (PYTHONDONTWRITEBYTECODE may be set here)
    sources = [str(ROOT / p) for p in ("layers/common", "functions", "bench")]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *sources], check=True)
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in (*INIT_KINDS, "eager", "aws")}
    init_child = str(ROOT / "bench" / "_init_child.py")
    for _ in range(INIT_RUNS):  # interleaved, so drift hits every kind alike
        for kind in INIT_KINDS:
            runs[kind].append(child([init_child, kind], script=True))
        runs["eager"].append(child([str(ROOT / "bench" / "_eager_child.py")], script=True))
        runs["aws"].append(child([str(ROOT / "bench" / "_aws_child.py")], script=True))
    both = runs["both"]
    r["init"] = {
        "runs": INIT_RUNS,
        "median_s": statistics.median(x["total_s"] for x in both),
        "median_import_s": statistics.median(x["import_s"] for x in both),
        "median_first_call_s": statistics.median(x["first_call_s"] for x in both),
        "boto3_loaded": any(x["boto3_loaded"] for x in both),
        "ingest_median_s": statistics.median(x["total_s"] for x in runs["ingest"]),
        "retry_median_s": statistics.median(x["total_s"] for x in runs["retry"]),
        "eager_median_s": statistics.median(x["total_s"] for x in runs["eager"]),
        "aws_clients_median_s": statistics.median(x["total_s"] for x in runs["aws"]),
    }
    from bench import artifact

    r["artifact"] = artifact.measure()
    print("2/9 cpu ...", file=sys.stderr, flush=True)
    r["cpu"] = child(["cpu", "1.0"])
    print("3/9 batch ...", file=sys.stderr, flush=True)
    r["batch"] = {
        "table": child(["batch", str(BATCH), "16", "table"]),
        "no_table": child(["batch", str(BATCH), "16", "none"]),
        "sequential_no_table": child(["batch", str(SEQUENTIAL_BATCH), "1", "none"]),
        "sequential_table": child(["batch", str(SEQUENTIAL_BATCH), "1", "table"]),
        "bt_no_table": child(["batch", str(BATCH), "16", "none", str(BT_CHUNK)]),
        "bt_table": child(["batch", str(BATCH), "16", "table", str(BT_CHUNK)]),
    }
    print("4/9 memory ...", file=sys.stderr, flush=True)
    r["memory"] = {kind: child(["memory", kind]) for kind in ("many", "large", "webhook")}
    print("5/9 retry drain ...", file=sys.stderr, flush=True)
    r["drain"] = {
        "table": child(["drain", str(DRAIN), "table"]),
        "no_table": child(["drain", str(DRAIN), "none"]),
    }
    print("6/9 dynamodb units ...", file=sys.stderr, flush=True)
    r.update(child(["dynamodb"]))
    print("7/9 resilience (Richpanel hanging, a 429 storm; ~45 s) ...", file=sys.stderr, flush=True)
    from bench import resilience

    r.update(resilience.measure(child))
    print("8/9 cost per million events ...", file=sys.stderr, flush=True)
    r.update(child([str(ROOT / "bench" / "cost.py")], script=True))
    print("9/9 replay throughput (/bt off and on; ~30 s) ...", file=sys.stderr, flush=True)
    from bench import replay

    r.update(replay.measure())
    return r


DYNAMODB_ROW = "DynamoDB WRU"  # the rows dynamodb_rows makes start so


def dynamodb_rows(r: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows: write units per event by call type, and per identify as a customer's item grows."""
    rows: list[dict[str, Any]] = []
    for name, u in r.get("dynamodb_units_per_event", {}).items():
        rows.append(
            {
                "measure": f"{DYNAMODB_ROW} per event, {name} ({u['fate']})",
                "value": u["total_wru"],
                "unit": "WRU",
                "target": None,
                "target_text": f"freshness {u['freshness_wru']} + idempotency "
                f"{u['idempotency_wru']}, {u['rru']:g} RRU",
                "met": None,
            }
        )
    g = r.get("dynamodb_item_growth")
    for keys, row in (g or {}).get("by_keys", {}).items():
        rows.append(
            {
                "measure": f"{DYNAMODB_ROW} per identify, customer with {keys} profile keys",
                "value": row["total_wru"],
                "unit": "WRU",
                "target": None,
                "target_text": f"freshness {row['freshness_wru']}, item {row['item_bytes']} B",
                "met": None,
            }
        )
    for rate, row in r.get("dynamodb_breaker_reads", {}).items():
        rows.append(
            {
                "measure": f"DynamoDB RRU per event, circuit breaker, {rate} events/s a container",
                "value": round(row["rru_per_event"], 4),
                "unit": "RRU",
                "target": None,
                "target_text": f"{row['reads']} reads for {row['events']} events (cached 2 s)",
                "met": None,
            }
        )
    return rows


def verdicts(r: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows: measure, value, target/baseline, met."""
    rows: list[dict[str, Any]] = []
    i = r["init"]
    eager = i["eager_median_s"]
    boto3 = "boto3 loaded" if i["boto3_loaded"] else "no boto3"
    for key, label in (
        ("median_s", f"init, both handlers (import + first call, median of 7, {boto3})"),
        ("ingest_median_s", "init, ingest handler alone"),
        ("retry_median_s", "init, retry handler alone"),
    ):
        rows.append(
            {
                "measure": label,
                "value": i[key],
                "unit": "s",
                "target": 0.5 * eager,
                "target_text": f"<= 0.5 x eager {eager:.3f} s = {0.5 * eager:.3f}",
                "met": i[key] <= 0.5 * eager,
            }
        )
    a = r.get("artifact")
    for function in ("IngestFunction", "RetryFunction"):
        name = function.removesuffix("Function").lower()
        rows.append(
            {
                "measure": f"{name} import + 1st validation, built artifact (py3.12, 1980)",
                "value": a[f"{function}_bytecode_s"] if a else None,
                "unit": "s",
                "target": None,
                "target_text": (
                    f"without the bytecode: {a[f'{function}_no_bytecode_s']:.3f} s"
                    if a
                    else "n/a: needs make build and python3.12"
                ),
                "met": None,
            }
        )
    rows.append(
        {
            "measure": "  + in AWS, first read of secrets/table (boto3 + 2 clients)",
            "value": i["aws_clients_median_s"],
            "unit": "s",
            "target": None,
            "target_text": "(not in the stubbed init above)",
            "met": None,
        }
    )
    for name, c in r["cpu"].items():
        rows.append(
            {
                "measure": f"cpu {name} ({c['bytes']} B) events/s",
                "value": c["events_per_s"],
                "unit": "ev/s",
                # information, not a target: cost per million events is the target
                "target": c["floor_events_per_s"] / 3,
                "target_text": f"ratio {c['ratio']:.1f}x floor "
                f"{c['floor_events_per_s']:.0f}/s (information)",
                "met": None,
            }
        )
    for key, label in (("table", "moto table"), ("no_table", "no table")):
        b = r["batch"][key]
        seq = r["batch"][f"sequential_{key}"]
        c = b["concurrency"]
        ideal = math.ceil(b["events"] / c) * DELAY_MS / 1000
        seq_500 = seq["wall_s"] * b["events"] / seq["events"]
        delivered = (b["summary"] or {}).get("delivered")
        b.update(
            {
                "ideal_s": ideal,
                "sequential_extrapolated_s": seq_500,
                "speedup": seq_500 / b["wall_s"],
            }
        )
        rows.append(
            {
                "measure": f"batch 500 @C={c}, {label} (delivered {delivered}/500, "
                f"{b.get('http_requests', b['sandbox_requests'])} sandbox reqs)",
                "value": b["wall_s"],
                "unit": "s",
                "target": 1.5 * ideal,
                "target_text": f"<= 1.5 x ideal {ideal:.2f} s",
                "met": b["wall_s"] <= 1.5 * ideal and delivered == b["events"],
            }
        )
        rows.append(
            {
                "measure": f"batch speedup vs sequential, {label} "
                f"(C=1 on {seq['events']}, x{b['events'] // seq['events']})",
                "value": b["speedup"],
                "unit": "x",
                "target": 10,
                "target_text": f">= 10x (seq ~{seq_500:.1f} s)",
                "met": b["speedup"] >= 10 and delivered == b["events"],
            }
        )
    for key, label in (("no_table", "no table"), ("table", "moto table")):
        off, on = r["batch"][key], r["batch"][f"bt_{key}"]
        on_delivered = (on["summary"] or {}).get("delivered")
        expected = math.ceil(on["events"] / on["batch_size"])
        rows.append(
            {
                "measure": f"batch /bt reqs 500 @C={on['concurrency']}, {label}, "
                f"{on['batch_size']}/chunk (deliv. {on_delivered}/500, {on['wall_s']:.2f} s)",
                "value": on["http_requests"],
                "unit": "reqs",
                "target": expected,
                "target_text": f"/bt off: {off['http_requests']} reqs; "
                f"on: ceil(500/{on['batch_size']}) = {expected}",
                "met": on["http_requests"] == expected and on_delivered == on["events"],
            }
        )
    for m in r["memory"].values():
        rows.append(
            {
                "measure": f"peak RSS, {m['path']}, {m['events']} events / "
                f"{m['body_bytes'] // 1024} KB "
                f"(after init {m['rss_after_init_mb']:.0f} MB)",
                "value": m["peak_rss_mb"],
                "unit": "MB",
                "target": LAMBDA_MB,
                "target_text": f"fits {LAMBDA_MB} MB",
                "met": m["peak_rss_mb"] < LAMBDA_MB,
            }
        )
    for d in r["drain"].values():
        rows.append(
            {
                "measure": f"retry drain {d['messages']} msgs, "
                f"{'moto table' if d['idempotency_table'] else 'no table'} "
                f"(delivered {d['delivered']}, left {d['left']})",
                "value": d["messages_per_s"],
                "unit": "msg/s",
                "target": None,
                "target_text": "(no target)",
                "met": None,
            }
        )
    rows += dynamodb_rows(r)
    from bench import resilience

    rows += resilience.rows(r)
    from bench import replay

    rows += replay.rows(r)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'measure':<72} {'value':>12}  {'target / baseline':<40} met"]
    for row in rows:
        value = (
            "n/a"
            if row["value"] is None
            else f"{row['value']:.3f} {row['unit']}"
            if row["value"] < 100
            else f"{row['value']:.0f} {row['unit']}"
        )
        met = {True: "yes", False: "NO", None: "-"}[row["met"]]
        lines.append(f"{row['measure']:<72} {value:>12}  {row['target_text']:<40} {met}")
    return "\n".join(lines)


def plot(r: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 5, figsize=(22, 5))
    i = r["init"]
    ax = axes[0]
    ax.bar(
        ["both", "ingest", "retry", "target\n0.5x eager", "eager"],
        [
            i["median_s"],
            i["ingest_median_s"],
            i["retry_median_s"],
            0.5 * i["eager_median_s"],
            i["eager_median_s"],
        ],
        color=["tab:blue", "tab:blue", "tab:blue", "tab:green", "tab:gray"],
    )
    ax.set_title("init (s)")
    ax = axes[1]
    names = list(r["cpu"])
    x = range(len(names))
    ax.bar(
        [k - 0.2 for k in x], [r["cpu"][n]["events_per_s"] for n in names], 0.4, label="measured"
    )
    ax.bar(
        [k + 0.2 for k in x],
        [r["cpu"][n]["floor_events_per_s"] / 3 for n in names],
        0.4,
        label="target (floor / 3)",
        color="tab:green",
    )
    ax.set_xticks(list(x), names, rotation=20)
    ax.set_yscale("log")
    ax.set_title("CPU, events/s on one core")
    ax.legend()
    ax = axes[2]
    labels, values, colors = [], [], []
    for key in ("table", "no_table"):
        b = r["batch"][key]
        labels += [f"{key}\nmeasured", f"{key}\n1.5x ideal", f"{key}\nseq/10"]
        values += [b["wall_s"], 1.5 * b["ideal_s"], b["sequential_extrapolated_s"] / 10]
        colors += ["tab:blue", "tab:green", "tab:gray"]
    for key in ("table", "no_table"):
        labels.append(f"{key}\n/bt measured")
        values.append(r["batch"][f"bt_{key}"]["wall_s"])
        colors.append("tab:purple")
    ax.bar(labels, values, color=colors)
    ax.tick_params(axis="x", labelsize=7)
    ax.set_title("batch 500 @ 50 ms, wall (s)")
    ax = axes[3]
    mem = r["memory"]
    ax.bar(
        [f"{k}\n{m['events']} ev" for k, m in mem.items()] + ["limit"],
        [m["peak_rss_mb"] for m in mem.values()] + [LAMBDA_MB],
        color=["tab:blue"] * len(mem) + ["tab:green"],
    )
    ax.set_title("peak RSS (MB)")
    ax = axes[4]
    ax.bar(list(r["drain"]), [d["messages_per_s"] for d in r["drain"].values()])
    ax.set_title("retry drain (msg/s, no target)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def dynamodb_only() -> int:
    """Only the DynamoDB units: merged into the existing results.json (other parts kept)."""
    from bench import dynamodb

    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "results.json"
    r: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    r.update(child(["dynamodb"]))
    rows = [x for x in r.get("rows", []) if not x["measure"].startswith(DYNAMODB_ROW)]
    r["rows"] = rows + dynamodb_rows(r)
    print(dynamodb.table(r))
    path.write_text(json.dumps(r, indent=2), encoding="utf-8")
    return 0


def resilience_only() -> int:
    """Only Richpanel hanging and the 429 storm (bench/resilience.py), merged into results.json."""
    from bench import resilience

    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "results.json"
    r: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    started = time.perf_counter()
    r.update(resilience.measure(child))
    r["resilience"]["elapsed_s"] = time.perf_counter() - started
    r["resilience"]["machine"] = machine()
    fresh = resilience.rows(r)
    rows = [x for x in r.get("rows", []) if not x["measure"].startswith(resilience.ROW)]
    r["rows"] = rows + fresh
    print(table(fresh))
    print(resilience.table(r))
    print(f"(resilience took {r['resilience']['elapsed_s']:.0f} s)")
    path.write_text(json.dumps(r, indent=2), encoding="utf-8")
    return 0


def cost_only() -> int:
    """Only the cost per million events (bench/cost.py), merged into results.json."""
    from bench import cost

    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "results.json"
    r: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    r.update(child([str(ROOT / "bench" / "cost.py")], script=True))
    print(cost.table(r))
    path.write_text(json.dumps(r, indent=2), encoding="utf-8")
    cost_plot(r)
    return 0


def cost_plot(r: dict[str, Any]) -> None:
    """The README's cost table and chart, from this run."""
    from bench import cost

    cost.update_readme(r)
    try:
        cost.plot(r, ROOT / "docs" / "images" / "cost.png")
    except ImportError:
        print("matplotlib missing: no cost.png", file=sys.stderr)


def replay_only() -> int:
    """Only the replay throughput (bench/replay.py), merged into results.json."""
    from bench import replay

    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "results.json"
    r: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    r.update(replay.measure())
    rows = [x for x in r.get("rows", []) if not x["measure"].startswith(replay.ROW)]
    r["rows"] = rows + replay.rows(r)
    print(replay.table(r))
    print(f"(replay took {r['replay']['elapsed_s']:.0f} s)")
    path.write_text(json.dumps(r, indent=2), encoding="utf-8")
    return 0


def main(argv: list[str]) -> int:
    if argv == ["replay"]:
        return replay_only()
    if argv == ["dynamodb"]:
        return dynamodb_only()
    if argv == ["cost"]:
        return cost_only()
    if argv == ["resilience"]:
        return resilience_only()
    if argv:
        raise SystemExit(
            f"usage: python -m bench.run [dynamodb|resilience|cost|replay]; got {argv}"
        )
    from bench import dynamodb

    started = time.perf_counter()
    RESULTS.mkdir(parents=True, exist_ok=True)
    r = measure()
    rows = verdicts(r)
    r["rows"] = rows
    r["elapsed_s"] = time.perf_counter() - started
    m = r["machine"]
    print(f"machine: nproc {m['nproc']}, {m['cpu']}, Python {m['python']}")
    print(table(rows))
    print(dynamodb.table(r))
    from bench import resilience

    print(resilience.table(r))
    from bench import cost

    print(cost.table(r))
    from bench import replay

    print(replay.table(r))
    print(f"(bench took {r['elapsed_s']:.0f} s)")
    (RESULTS / "results.json").write_text(json.dumps(r, indent=2), encoding="utf-8")
    cost_plot(r)
    try:
        plot(r, RESULTS / "bench.png")
    except ImportError:
        print(
            "matplotlib missing: no bench.png (pip install -r requirements-dev.txt)",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
