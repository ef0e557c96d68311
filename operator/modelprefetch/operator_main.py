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
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
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
        try:
            if settings.leader_election and not await _first(elector.acquire(), stop.wait()):
                return 0  # asked to stop while standing by
            metrics.set_leader(True)
            _register_handlers(settings)
            _kopf_login(config)
            operator = asyncio.create_task(
                kopf.operator(clusterwide=True, stop_flag=stop, memo=memo_for(services))
            )
            watchers = [operator, asyncio.create_task(stop.wait())]
            keeper = None
            if settings.leader_election:
                keeper = asyncio.create_task(elector.keep())
                watchers.append(keeper)
            done, pending = await asyncio.wait(watchers, return_when=asyncio.FIRST_COMPLETED)
            # Exit non-zero (so Kubernetes restarts us) when leadership was lost or kopf
            # crashed. kopf replaces our SIGTERM handler with its own and then returns
            # normally, so a clean kopf return is a requested stop.
            crashed = (
                operator in done and not operator.cancelled() and (operator.exception() is not None)
            )
            lost_lease = keeper is not None and keeper in done
            failed = lost_lease or crashed
            stop.set()
            for task in pending:
                if task is not operator:
                    task.cancel()
            if lost_lease:
                # A standby may take over as soon as the lease expires on its clock, a few
                # seconds after our renew deadline: no handler may write after that, so
                # kopf is cancelled now instead of being given time to finish gracefully.
                log.error("Lost the leader Lease; stopping reconciliation at once")
                operator.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(operator, timeout=2 if lost_lease else 15)
            return 1 if failed else 0
        finally:
            metrics.set_leader(False)
            for task in background:
                task.cancel()
            if settings.leader_election:
                with contextlib.suppress(Exception):
                    await elector.release()
            for runner in runners:
                await runner.cleanup()


async def _first(wanted: Any, other: Any) -> bool:
    """Await two coroutines; True when `wanted` finished first (the other is cancelled)."""
    first, second = asyncio.ensure_future(wanted), asyncio.ensure_future(other)
    done, pending = await asyncio.wait({first, second}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    return first in done
