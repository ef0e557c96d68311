"""The HTTPS server of both webhooks, one per operator replica (no leader election).

    POST /mutate-pods                  pod mutation (AdmissionReview v1)
    POST /validate-modeldeployments    ModelDeployment spec validation, deletion guard

Health and readiness are served once per process, on the health port
(`modelprefetch.probes`), not here.

Nothing here answers 500: malformed bodies get 400, bodies over the cap 413 (from
aiohttp, before they are read), and an unexpected exception while deciding becomes an
`allowed: false` review naming the webhook, recorded with decision "error".
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from modelprefetch.api.v1alpha1 import parse_spec
from modelprefetch.webhook.admission import (
    MAX_BODY,
    BadReviewError,
    SpecValidator,
    parse_review,
    response,
    review_modeldeployment,
    review_pod,
)
from modelprefetch.webhook.index import ModelIndex
from modelprefetch.webhook.usage import PodUsage

logger = logging.getLogger(__name__)

MUTATE_PODS_PATH = "/mutate-pods"
VALIDATE_MODELDEPLOYMENTS_PATH = "/validate-modeldeployments"
WEBHOOK_MUTATE = "mutate-pods"
WEBHOOK_VALIDATE = "validate-modeldeployments"
DECISION_ERROR = "error"

# (webhook, decision, seconds) -> None; default: modelprefetch.metrics.observe_webhook
Recorder = Callable[[str, str, float], None]
Decider = Callable[[Mapping[str, Any]], tuple[dict[str, Any], str]]


def _default_recorder() -> Recorder:
    from modelprefetch.metrics import observe_webhook

    return observe_webhook


def _endpoint(webhook: str, decide: Decider, record: Recorder) -> Any:
    async def handle(request: web.Request) -> web.Response:
        started = time.perf_counter()
        decision = DECISION_ERROR
        try:
            try:
                review = parse_review(await request.read())
            except BadReviewError as exc:
                return web.json_response({"error": str(exc)}, status=400)
            try:
                answer, decision = decide(review)
            except Exception:
                # a bug must not become a 500 the API server retries: answer, and alert
                logger.exception("Webhook %s failed on request %s", webhook, review["uid"])
                answer = response(
                    review["uid"],
                    allowed=False,
                    code=500,
                    message=f"modelprefetch {webhook}: internal error, see the operator log",
                )
            return web.json_response(answer)
        finally:
            record(webhook, decision, time.perf_counter() - started)

    return handle


def create_app(
    index: ModelIndex,
    *,
    recorder: Recorder | None = None,
    validate_spec: SpecValidator = parse_spec,
    max_body: int = MAX_BODY,
    usage: PodUsage | None = None,
) -> web.Application:
    """The aiohttp application serving both webhooks from `index` (and `usage`: the pods
    using each model, which guards deletions; None allows every deletion)."""
    record = recorder or _default_recorder()
    app = web.Application(client_max_size=max_body)

    app.router.add_post(
        MUTATE_PODS_PATH,
        _endpoint(WEBHOOK_MUTATE, lambda r: review_pod(r, index), record),
    )
    app.router.add_post(
        VALIDATE_MODELDEPLOYMENTS_PATH,
        _endpoint(
            WEBHOOK_VALIDATE, lambda r: review_modeldeployment(r, validate_spec, usage), record
        ),
    )
    return app


async def start_webhook_server(
    app: web.Application,
    ssl_context: ssl.SSLContext | None,
    *,
    host: str = "0.0.0.0",  # noqa: S104 - the API server reaches every replica via the Service
    port: int = 9443,
) -> web.AppRunner:
    """Serve `app` on host:port (HTTPS when ssl_context is given); stop with `runner.cleanup()`."""
    runner = web.AppRunner(app, access_log=None)  # one line per pod admission is too much
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context, backlog=1024)
    await site.start()
    logger.info("Webhook server listening on %s:%s", host, port)
    return runner
