"""The operator process behind `modelprefetch run`.

Every replica serves health, metrics and (when enabled) the admission webhooks, fed by
its own watch of ModelDeployments. Only the replica holding the leader Lease runs the
kopf reconcile loops; losing the Lease ends the process so Kubernetes restarts it as a
standby (the usual controller behaviour), and a clean shutdown releases the Lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import uuid
from typing import Any

import kopf

from modelprefetch import constants, metrics
from modelprefetch.handlers.memo import memo_for
from modelprefetch.k8s.client import KubeClient
from modelprefetch.k8s.config import ClusterConfig, load_config
from modelprefetch.k8s.leader import LeaderElector
from modelprefetch.probes import Health, serve_http
from modelprefetch.reconciler.capacity import open_capacity
from modelprefetch.reconciler.services import Services
from modelprefetch.settings import Settings

log = logging.getLogger(__name__)

# How long kopf's own tasks get to finish on a requested stop (they take well under a
# second: the daemons' cancellation_timeout is 2 s) before they are cancelled.
KOPF_GRACE_SECONDS = 5.0
# How long a stopping replica keeps serving the webhook after it stopped reconciling and
# released the Lease (see run_operator); within the chart's 30 s termination grace period.
WEBHOOK_DRAIN_SECONDS = 5.0


def _register_handlers(settings: Settings) -> None:
    # Importing the modules registers their kopf handlers.
    from modelprefetch.handlers import modeldeployment, observe  # noqa: F401

    if settings.startup_taint_enabled:
        from modelprefetch.handlers import startup_taint  # noqa: F401


def _kopf_login(config: ClusterConfig) -> None:
    """kopf logs in with our credentials: the same token source (exec plugin, OIDC, rotating
    token file), and TLS material passed as data (kopf writes no files for it to keep)."""
    logins = 0

    @kopf.on.login()
    async def login(**_: Any) -> kopf.ConnectionInfo:
        nonlocal logins
        logins += 1
        if logins > 1:  # kopf logs in again only after a 401 or past `expiration`
            config.auth.invalidate()
        scheme, _sep, token = (await config.auth.authorization() or "").partition(" ")
        return kopf.ConnectionInfo(
            server=config.server,
            ca_data=config.ca_pem,
            insecure=config.insecure,
            certificate_data=config.cert_pem,
            private_key_data=config.key_pem,
            scheme=scheme or None,
            token=token or None,
            default_namespace=config.namespace,
            expiration=config.auth.expiry,
        )

    @kopf.on.startup()
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.peering.standalone = True  # leader election is ours (a Lease)
        settings.persistence.finalizer = constants.FINALIZER
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
            prefix=constants.GROUP
        )
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
            prefix=constants.GROUP, key="last-handled-configuration"
        )
        settings.posting.level = logging.WARNING  # our own events carry the story
        settings.watching.server_timeout = 300
        settings.networking.request_timeout = 60


async def run_operator(settings: Settings) -> int:
    config = await load_config(settings.kubeconfig)
    identity = f"{settings.pod_name or socket.gethostname()}_{uuid.uuid4().hex[:8]}"
    health = Health()
    runners = [
        await serve_http(health.app(), settings.bind_address, settings.health_port),
        await metrics.start_metrics_server(settings.bind_address, settings.metrics_port),
    ]
    stop = asyncio.Event()
    _stop_on_signals(stop)
    async with KubeClient(config) as kube, open_capacity(settings, config) as capacity:
        services = Services(settings=settings, kube=kube, capacity=capacity)
        background: list[asyncio.Task[Any]] = []
        if settings.webhook_enabled:
            from modelprefetch.webhook_service.runner import start_webhook

            webhook = await start_webhook(settings, kube, runners)
            background += webhook.tasks
            health.checks.append(webhook.ready)
        health.ready = True
        elector = LeaderElector(
            kube,
            settings.namespace,
            settings.lease_name,
            identity,
            lease_seconds=settings.lease_duration_seconds,
            renew_deadline_seconds=settings.lease_renew_deadline_seconds,
            renew_seconds=settings.lease_retry_period_seconds,
        )
        # Everything that does not need the Lease happens before waiting for it (importing
        # the handlers alone took ~3 s of a failover on a busy node): a standby that wins
        # only has to start kopf's tasks.
        _register_handlers(settings)
        _kopf_login(config)
        try:
            if settings.leader_election and not await _first(elector.acquire(), stop.wait()):
                return 0  # asked to stop while standing by
            metrics.set_leader(True)
            return await _reconcile(stop, services, elector if settings.leader_election else None)
        finally:
            metrics.set_leader(False)
            if settings.leader_election:
                with contextlib.suppress(Exception):
                    await elector.release()
            if settings.webhook_enabled:
                # The Lease is free already; the webhook is served a little longer: the
                # API server reaches it through the Service until kube-proxy has dropped
                # this terminating pod's endpoint, and a refused call under failurePolicy
                # Fail would deny a pod (seen during `helm upgrade` without this).
                health.ready = False
                await asyncio.sleep(WEBHOOK_DRAIN_SECONDS)
            for task in background:
                task.cancel()
            for runner in runners:
                await runner.cleanup()


async def _reconcile(stop: asyncio.Event, services: Services, elector: LeaderElector | None) -> int:
    """Run kopf until `stop`, a lost Lease or a crash; 1 when Kubernetes should restart us.

    Returns only once no handler of ours can run any more, so the caller may release the
    Lease. kopf stops its own tasks (watch streams, workers, daemons) within a fraction of a
    second, but then waits up to 5 s for every other task of the process (webhook and probe
    connections) before it returns: the Lease would stay held, and the standby idle, for
    nothing. So kopf runs as spawn_tasks + run_tasks, and once its own tasks are done the
    rest is cancelled."""
    watchers: list[asyncio.Task[Any]] = [asyncio.create_task(stop.wait())]
    if elector is not None:
        watchers.append(asyncio.create_task(elector.keep()))
    existing = asyncio.all_tasks()  # ours, which kopf must neither wait for nor cancel
    kopf_tasks = await kopf.spawn_tasks(clusterwide=True, stop_flag=stop, memo=memo_for(services))
    # kopf has just replaced our SIGTERM/SIGINT handlers with its own: take them back, so
    # every stop goes through `stop` (kopf watches it too) and the bounded path below.
    _stop_on_signals(stop)
    operator = asyncio.create_task(kopf.run_tasks(kopf_tasks, ignored=existing))
    done, pending = await asyncio.wait([operator, *watchers], return_when=asyncio.FIRST_COMPLETED)
    crashed = operator in done and not operator.cancelled() and operator.exception() is not None
    lost_lease = len(watchers) > 1 and watchers[1] in done
    stop.set()
    for task in pending:
        if task is not operator:
            task.cancel()
    if lost_lease:
        # A standby may take over as soon as the lease expires on its clock, a few seconds
        # after our renew deadline: no handler may write after that, so kopf is cancelled
        # now instead of being given time to finish gracefully.
        log.error("Lost the leader Lease; stopping reconciliation at once")
    else:
        await asyncio.wait(kopf_tasks, timeout=KOPF_GRACE_SECONDS)
    operator.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await asyncio.wait_for(operator, timeout=KOPF_GRACE_SECONDS)
    log.info("Stopped reconciling")
    return 1 if lost_lease or crashed else 0


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


async def _first(wanted: Any, other: Any) -> bool:
    """Await two coroutines; True when `wanted` finished first (the other is cancelled)."""
    first, second = asyncio.ensure_future(wanted), asyncio.ensure_future(other)
    done, pending = await asyncio.wait({first, second}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    return first in done
