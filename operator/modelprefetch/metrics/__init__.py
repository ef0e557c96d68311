"""Prometheus metrics of the operator, on one dedicated registry.

Every metric is named `modelprefetch_<thing>_<unit>` and lives on `REGISTRY` (never the
global registry, so tests and the `hold` command stay clean). Other modules call the
typed helpers re-exported here rather than the metric objects, so label names
stay in one place.

    per ModelDeployment (labels namespace, model)
      modelprefetch_model_desired_nodes               gauge      nodes the model should be on
      modelprefetch_model_nodes{state}                gauge      nodes per state (NODE_STATES)
      modelprefetch_model_size_bytes                  gauge      bytes one node pulls
      modelprefetch_model_resolved                    gauge      1 resolved, 0 last resolve failed
      modelprefetch_resolve_duration_seconds          histogram  registry resolve time
      modelprefetch_resolve_errors_total{reason}      counter    failed resolves by error reason
      modelprefetch_prefetch_duration_seconds         histogram  prefetch time of each node
      modelprefetch_model_nodes_by_phase{phase}       gauge      nodes per progress phase
      modelprefetch_pull_duration_seconds             histogram  kubelet pull time (Pulled event)
      modelprefetch_pull_bytes                        histogram  bytes pulled (Pulled event)
      modelprefetch_model_verified                    gauge      1 digest verified, 0 not
      modelprefetch_verifications_total{result}       counter    verifications by result (reason)
      modelprefetch_verify_duration_seconds           histogram  signature verification time
    no series has a node label: series grow with models, never with nodes
    (docs/metrics-cardinality.md); which nodes lag is in status.progress
    operator
      modelprefetch_reconcile_duration_seconds        histogram  one reconcile
      modelprefetch_reconcile_errors_total            counter    reconciles that raised
      modelprefetch_webhook_requests_total{webhook, decision}    admission reviews answered
      modelprefetch_webhook_request_duration_seconds{webhook}   admission latency
      modelprefetch_leader                            gauge      1 on the replica that reconciles
                                                             (followers drop per-model series)
      modelprefetch_build_info{version}               gauge      always 1
    per node pool (startup taint, docs/startup-taint.md)
      modelprefetch_startup_taint_removals_total{reason}  counter  taints removed, by reason

    registry.py   the registry and the /metrics endpoint
    models.py     per-ModelDeployment series
    operator.py   reconciles, admission reviews, leadership, build info
    verification.py  spec.model.verify verdicts
"""

from modelprefetch.metrics.models import (
    NODE_PHASES,
    NODE_STATES,
    count_startup_taint_removal,
    forget_all_models,
    forget_model,
    keep_prefetched_nodes,
    observe_prefetch,
    observe_pulls,
    observe_resolve,
    record_model_state,
    record_phases,
)
from modelprefetch.metrics.operator import (
    DECISION_ALLOWED,
    DECISION_DENIED,
    DECISION_ERROR,
    DECISION_PATCHED,
    WEBHOOK_BUCKETS,
    WEBHOOK_LATENCY,
    WEBHOOK_MUTATE_PODS,
    WEBHOOK_REQUESTS,
    WEBHOOK_VALIDATE_MODELDEPLOYMENTS,
    observe_reconcile,
    observe_webhook,
    set_leader,
)
from modelprefetch.metrics.registry import REGISTRY, start_metrics_server
from modelprefetch.metrics.verification import observe_verification

__all__ = [
    "DECISION_ALLOWED",
    "DECISION_DENIED",
    "DECISION_ERROR",
    "DECISION_PATCHED",
    "NODE_PHASES",
    "NODE_STATES",
    "REGISTRY",
    "WEBHOOK_BUCKETS",
    "WEBHOOK_LATENCY",
    "WEBHOOK_MUTATE_PODS",
    "WEBHOOK_REQUESTS",
    "WEBHOOK_VALIDATE_MODELDEPLOYMENTS",
    "count_startup_taint_removal",
    "forget_all_models",
    "forget_model",
    "keep_prefetched_nodes",
    "observe_prefetch",
    "observe_pulls",
    "observe_reconcile",
    "observe_resolve",
    "observe_verification",
    "observe_webhook",
    "record_model_state",
    "record_phases",
    "set_leader",
    "start_metrics_server",
]
