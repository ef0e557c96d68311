"""The pure parts of the scale benchmark (e2e/bench/bench_scale.py): audit-log reading,
/proc parsing, ratios and tables, the kwok pull stage, argument checks. No cluster."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest
from e2e.bench.bench_scale import parse_args
from e2e.bench.scale_audit import AuditLog, audit_policy, summarize
from e2e.bench.scale_cluster import cpu_seconds_from_stat, json_size, kib_from_status
from e2e.bench.scale_report import (
    DS_CONTROLLER,
    OPERATOR,
    CaseResult,
    format_requests,
    format_table,
    ratios,
)
from e2e.cluster.kwok_pull import IMAGE_VOLUME_QUERY, split_pod_ready

from modelprefetch.core.pulls import parse_kubelet_pull

OP_USER = "system:serviceaccount:modelprefetch-system:modelprefetch"
USERS = {OP_USER: OPERATOR, "system:serviceaccount:kube-system:daemon-set-controller": "ds"}


def event(
    verb: str, resource: str, stage: str = "ResponseComplete", **extra: Any
) -> dict[str, Any]:
    resource, _, sub = resource.partition("/")
    ref = {"resource": resource, **({"subresource": sub} if sub else {})}
    return {
        "verb": verb,
        "stage": stage,
        "user": {"username": extra.pop("user", OP_USER)},
        "objectRef": ref,
        "requestReceivedTimestamp": "2026-11-30T05:00:00.000000Z",
        "stageTimestamp": extra.pop("stamp", "2026-11-30T05:00:00.020000Z"),
        "responseStatus": {"code": extra.pop("code", 200)},
        **extra,
    }


def test_policy_logs_only_the_named_users_and_their_write_bodies() -> None:
    """Writes of the named users at Request, their reads at Metadata, nobody else."""
    rules = audit_policy([OP_USER])["rules"]
    assert rules[0] == {"level": "Request", "users": [OP_USER], "verbs": rules[0]["verbs"]}
    assert {"patch", "create", "update", "delete"} <= set(rules[0]["verbs"])
    assert rules[1] == {"level": "Metadata", "users": [OP_USER]}
    assert rules[-1] == {"level": "None"}


def test_summarize_counts_requests_by_verb_and_resource() -> None:
    """One request per completed call, a watch when it starts; bodies are bytes written."""
    patch = {"metadata": {"labels": {"prefetch.modelprefetch.io/abc": "1"}}}
    events = [
        event("patch", "nodes", requestObject=patch),
        event("patch", "nodes", requestObject=patch, stamp="2026-11-30T05:00:00.040000Z"),
        event("patch", "nodes", requestObject=patch, code=409),
        event("watch", "pods", stage="ResponseStarted", requestURI="/api/v1/pods?watch=true"),
        event("watch", "pods", stage="ResponseComplete"),  # the same watch ending: not counted
        event("patch", "modeldeployments/status", requestObject={"status": {}}),
        event("list", "pods", user="admin"),  # not audited user: ignored
        event(
            "list",
            "daemonsets",
            objectRef={"resource": "daemonsets", "namespace": "n"},
            requestURI="/apis/apps/v1/namespaces/n/daemonsets?labelSelector=a%3Db",
        ),
    ]
    got = summarize(events, USERS)
    ops = got[OPERATOR]
    assert ops["requests"] == 6
    assert ops["writes"] == 4
    nodes = ops["by_verb_resource"]["patch nodes"]
    assert nodes["count"] == 3
    assert nodes["bytes"] == 3 * len(json.dumps(patch, separators=(",", ":")))
    assert nodes["errors"] == 1
    assert nodes["p50_ms"] == 20.0
    assert nodes["max_ms"] == 40.0
    assert ops["by_verb_resource"]["watch pods [cluster, no selector]"] == {"count": 1, "bytes": 0}
    assert "patch modeldeployments/status" in ops["by_verb_resource"]
    assert ops["by_verb_resource"]["list daemonsets [namespace, selector]"]["count"] == 1
    assert got["ds"] == {"requests": 0, "writes": 0, "bytes_written": 0, "by_verb_resource": {}}


def test_audit_log_windows_keep_a_half_written_line(tmp_path: Path) -> None:
    """take() returns whole new lines only; the rest comes in the next window."""
    path = tmp_path / "audit.log"
    log = AuditLog(path)
    assert log.take() == []
    first, second = json.dumps(event("get", "nodes")), json.dumps(event("list", "pods"))
    path.write_text(first + "\n" + second[:10])
    assert [e["verb"] for e in log.take()] == ["get"]
    with path.open("a") as handle:
        handle.write(second[10:] + "\n")
    assert [e["verb"] for e in log.take()] == ["list"]
    with path.open("a") as handle:
        handle.write(first + "\n")
    log.skip()
    assert log.take() == []


def test_cpu_seconds_from_proc_stat_with_spaces_in_the_name() -> None:
    """utime + stime (fields 14, 15) in clock ticks, after the parenthesised name."""
    stat = "4242 (python -m (x)) S 1 4242 4242 0 -1 4194560 9 0 0 0 250 150 0 0 20 0 3 0"
    assert cpu_seconds_from_stat(stat, 100) == 4.0
    assert kib_from_status("Name:\tpython\nVmHWM:\t  123456 kB\nVmRSS: 1 kB\n", "VmHWM") == 123456
    with pytest.raises(KeyError):
        kib_from_status("Name: x\n", "VmHWM")


def test_json_size_leaves_out_managed_fields() -> None:
    """Sizes are what a client sends, not the server's bookkeeping."""
    obj = {"metadata": {"name": "a", "managedFields": [{"manager": "x" * 100}]}, "spec": {}}
    assert json_size(obj) == len('{"metadata":{"name":"a"},"spec":{}}')


def cases() -> list[CaseResult]:
    ops = {OPERATOR: {"requests": 1200, "writes": 1000, "bytes_written": 204800}}
    return [
        CaseResult(case="idle", nodes=500, models=0, cpu_s=3.0),
        CaseResult(case="baseline", nodes=500, ready_s=40.0, pods_ready_s=40.0),
        CaseResult(
            case="ours 100%", nodes=500, ready_s=50.0, pods_ready_s=44.0, cpu_s=10.0, requests=ops
        ),
        CaseResult(case="ours 100%", nodes=1000, ready_s=90.0),  # no baseline at 1,000
    ]


def test_ratios_compare_with_the_baseline_on_the_same_nodes() -> None:
    """ours/baseline per N; None where there is no baseline; idle and baseline rows skipped."""
    got = ratios(cases())
    assert [(r["case"], r["nodes"]) for r in got] == [("ours 100%", 500), ("ours 100%", 1000)]
    assert got[0]["ready_ratio"] == 1.25
    assert got[0]["pods_ready_ratio"] == 1.1
    assert got[0]["operator_writes_per_node"] == 2.0
    assert got[0]["operator_cpu_ms_per_node"] == 20.0
    assert got[1]["ready_ratio"] is None


def test_table_has_a_row_per_case_with_the_ratio() -> None:
    """Markdown table: header, separator, one row per case, ratio in the ours row."""
    lines = format_table(cases()).splitlines()
    assert len(lines) == 2 + 4
    assert lines[0].count("|") == lines[1].count("|") == lines[2].count("|")
    ours = lines[4].split(" | ")
    assert ours[0] == "| ours 100%" and ours[2] == "50.0" and ours[3] == "1.25"
    assert ours[11] == "200.0"  # KiB written
    timed_out = CaseResult(case="ours 10%", nodes=500, ready_s=None, timed_out=True)
    assert "- (timeout)" in format_table([timed_out])


def test_request_listing_ranks_by_count() -> None:
    """The busiest verb/resource first, with bytes and latency when known."""
    case = CaseResult(case="ours 10%", nodes=2)
    case.requests = summarize(
        [
            event("patch", "nodes", requestObject={"a": 1}),
            event("patch", "nodes"),
            event("get", "pods"),
        ],
        USERS,
    )
    lines = format_requests([case]).splitlines()
    assert lines[0] == "ours 10% @ 2 nodes, operator, rollout:"
    assert lines[1].split()[:3] == ["2", "patch", "nodes"]
    assert "p50 20.0 ms" in lines[1]
    assert format_requests([case], who=DS_CONTROLLER) == ""


def test_pull_stage_splits_pod_ready_without_overlap() -> None:
    """Pods with an image volume get the pull delay; the stock stage no longer matches them."""
    stock = {
        "metadata": {"name": "pod-ready"},
        "spec": {
            "selector": {"matchExpressions": [{"key": ".a", "operator": "Exists"}]},
            "delay": {"durationMilliseconds": 200, "jitterDurationMilliseconds": 800},
        },
    }
    pulled = split_pod_ready(stock, (2000, 8000))
    assert pulled["metadata"]["name"] == "pod-ready-after-pull"
    assert pulled["spec"]["delay"] == {
        "durationMilliseconds": 2000,
        "jitterDurationMilliseconds": 8000,
    }
    assert stock["spec"]["delay"]["durationMilliseconds"] == 200
    # the simulated pull ends as a kubelet's does, with a Pulled Event the operator parses
    event = pulled["spec"]["next"]["event"]
    assert event["reason"] == "Pulled" and "event" not in stock["spec"].get("next", {})
    parsed = parse_kubelet_pull(event["message"])
    assert parsed is not None and parsed.size_bytes == 1 << 30
    mine = pulled["spec"]["selector"]["matchExpressions"]
    theirs = stock["spec"]["selector"]["matchExpressions"]
    assert mine[0] == theirs[0] == {"key": ".a", "operator": "Exists"}
    assert mine[1] == {"key": IMAGE_VOLUME_QUERY, "operator": "Exists"}
    assert theirs[1] == {"key": IMAGE_VOLUME_QUERY, "operator": "DoesNotExist"}
    with pytest.raises(ValueError, match="low <= high"):
        split_pod_ready(stock, (5, 1))


def test_arguments_sizes_and_pull_range() -> None:
    """--nodes sorted and deduplicated; bad sizes and ranges are refused by name."""
    args = parse_args(["--nodes", "1000,500,500", "--pull-ms", "100-300"])
    assert args.nodes == [500, 1000]
    assert args.pull_ms == (100, 300)
    assert parse_args([]).nodes == [500, 1000, 2000, 5000]
    assert parse_args([]).waves == ["100%", "10%"]
    assert parse_args(["--waves", "100%, 25"]).waves == ["100%", "25"]
    for bad in (["--nodes", "5k"], ["--nodes", "0"], ["--pull-ms", "9-1"], ["--waves", "x%"]):
        with pytest.raises(SystemExit):
            parse_args(bad)
    with pytest.raises(argparse.ArgumentTypeError, match="--nodes"):
        from e2e.bench.bench_scale import _sizes

        _sizes("x")


def test_scale_tuning_reaches_each_process_and_kwok(tmp_path: Path) -> None:
    """ScaleTuning's flags name real processes; the heartbeat and kwok options land in
    the kwok config LocalCluster writes."""
    from e2e.bench.scale_cluster import ScaleTuning
    from e2e.cluster.controlplane import kwok_stages

    kwargs = ScaleTuning(grace_seconds=900).cluster_kwargs()
    assert set(kwargs["extra_args"]) <= {
        "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"
    }  # fmt: skip
    assert kwargs["node_monitor_grace_seconds"] * 1000 > sum(kwargs["node_heartbeat_ms"])
    import yaml

    stages = list(
        yaml.safe_load_all(kwok_stages(tmp_path / "s.yaml", None, (240_000, 60_000)).read_text())
    )
    beat = next(s for s in stages if s["metadata"]["name"] == "node-heartbeat")
    assert beat["spec"]["delay"] == {
        "durationMilliseconds": 240_000, "jitterDurationMilliseconds": 60_000
    }  # fmt: skip


def _run(tmp_path: Path, started: str, nodes: int, base: float, ours: float) -> Path:
    cases = [
        {"case": "startup", "nodes": 0},
        {"case": "baseline", "nodes": nodes, "ready_s": base, "peak_rss_mib": 100.0},
        {"case": "ours 100%", "nodes": nodes, "ready_s": ours, "peak_rss_mib": 120.0,
         "objects": {"loadavg_1m": 9.5}},
    ]  # fmt: skip
    path = tmp_path / f"scale-{nodes}-{started}.json"
    path.write_text(json.dumps({"args": {"started": started}, "cases": cases, "ratios": []}))
    return path


def test_scale_plot_takes_the_last_run_per_size_and_writes_a_png(tmp_path: Path) -> None:
    """Per N the file started last wins; the PNG is written."""
    from e2e.bench.scale_plot import plot, points

    files = [
        _run(tmp_path, "20261130-1000", 1000, 50.0, 60.0),
        _run(tmp_path, "20261130-0900", 1000, 10.0, 10.0),
        _run(tmp_path, "20261130-0900", 500, 20.0, 30.0),
    ]
    data = points(files)
    assert [(p.nodes, p.baseline_s, p.ours_s) for p in data] == [(500, 20, 30), (1000, 50, 60)]
    out = tmp_path / "scale.png"
    plot(data, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_scale_plot_split_writes_one_file_per_size(tmp_path: Path) -> None:
    """--split: scale-<N>-<label>.json per node count, each with the startup case."""
    from e2e.bench.scale_plot import split

    run = _run(tmp_path, "x", 1000, 1.0, 2.0)
    figures = json.loads(run.read_text())
    figures["cases"] += [{"case": "baseline", "nodes": 2000, "ready_s": 3.0}]
    run.write_text(json.dumps(figures))
    out = tmp_path / "out"
    out.mkdir()
    written = split(run, "tuned", out)
    assert [p.name for p in written] == ["scale-1000-tuned.json", "scale-2000-tuned.json"]
    second = json.loads(written[1].read_text())
    assert [c["case"] for c in second["cases"]] == ["startup", "baseline"]


def test_scale_plot_table_has_a_row_per_size(tmp_path: Path) -> None:
    """--table: one markdown row per N with the ratio ours/baseline."""
    from e2e.bench.scale_plot import table

    run = _run(tmp_path, "a", 1000, 50.0, 60.0)
    figures = json.loads(run.read_text())
    figures["cases"][1]["requests"] = {"daemonset-controller": {"requests": 4328}}
    run.write_text(json.dumps(figures))
    rows = table([run]).splitlines()
    assert len(rows) == 3 and rows[2].startswith("| 1,000 | 50.0 s | 60.0 s | 1.20 |")
    # the DaemonSet controller's requests, baseline / ours (none recorded: "-")
    assert rows[2].count("|") == rows[0].count("|") and "| 4,328 / - |" in rows[2]
