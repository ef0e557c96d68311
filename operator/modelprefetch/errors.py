"""One exception tree for the whole project.

    ModelPrefetchError                 base; `temporary` says whether retrying can help
    ├── InvalidReferenceError          malformed image/model reference        (permanent)
    ├── RegistryError                  talking to an OCI registry             (temporary)
    │   ├── RegistryAuthError          401/403 after authenticating           (permanent)
    │   ├── RegistryNotFoundError      404 manifest/blob/repository           (permanent)
    │   ├── RegistryUnavailableError   connect errors, 5xx, 429 after retries (temporary)
    │   └── RegistryProtocolError      a reply we cannot use (too big, bad JSON, digest
    │                                  mismatch)                              (permanent)
    ├── ModelFormatError               manifest/config not understood; names the field
    │                                  (permanent)
    ├── CredentialsError               pull secret missing or malformed       (permanent)
    │   └── PullSecretForbiddenError   RBAC refuses reading the pull secret   (permanent)
    ├── PackError                      `pack` input problems                  (permanent)
    └── KubernetesError                API server call failed                 (temporary)
        └── KubernetesNotFoundError    object is gone                         (permanent)

Every error has a CamelCase `reason` and a `message` for people. Where they end up:

* resolving a ModelDeployment's reference (reconciler.resolver): the reason and
  message become the Resolved condition's, retried on the back-off schedule;
* any other error during a reconcile pass (reconciler.loop): logged on the object,
  counted in modelprefetch_reconcile_errors_total, and the pass is retried - soon when
  `temporary` (ERROR_RETRY_SECONDS), at the next resync otherwise (nothing changes
  until someone fixes the input, and every watched change wakes the loop anyway);
* the CLI prints the message and exits 1.

Errors outside this tree are bugs (or programming errors such as a client used outside
`async with`): they are not caught as domain errors.
"""

from __future__ import annotations


class ModelPrefetchError(Exception):
    """Base of every error this project raises on purpose; `temporary`: retrying can help."""

    reason: str = "Error"
    temporary: bool = False

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason


class InvalidReferenceError(ModelPrefetchError):
    """A reference string that does not parse."""

    reason = "InvalidReference"


class RegistryError(ModelPrefetchError):
    """Any failure talking to a registry."""

    reason = "RegistryError"
    temporary = True


class RegistryAuthError(RegistryError):
    """The registry refused our credentials (or lack of them)."""

    reason = "RegistryUnauthorized"
    temporary = False


class RegistryNotFoundError(RegistryError):
    """The repository, tag, manifest or blob does not exist."""

    reason = "NotFound"
    temporary = False


class RegistryUnavailableError(RegistryError):
    """Connection errors, timeouts, 5xx and 429 that outlived our retries."""

    reason = "RegistryUnavailable"
    temporary = True


class RegistryProtocolError(RegistryError):
    """A reply we cannot use: too large, not JSON, digest mismatch, unknown media type."""

    reason = "RegistryProtocolError"
    temporary = False


class ModelFormatError(ModelPrefetchError):
    """A manifest or config we do not understand; the message names the field."""

    reason = "UnsupportedArtifact"


class CredentialsError(ModelPrefetchError):
    """A pull secret is missing or malformed."""

    reason = "InvalidPullSecret"


class PullSecretForbiddenError(CredentialsError):
    """The API server refused the operator reading a pull secret (403): the chart grants
    Secret reads only in the namespaces rbac.secretNamespaces lists."""

    reason = "PullSecretForbidden"

    def __init__(self, namespace: str, name: str) -> None:
        super().__init__(
            f"The operator may not read pull secret {namespace}/{name} (403 Forbidden): add "
            f"{namespace!r} to the chart value rbac.secretNamespaces (or set "
            "rbac.clusterWideSecrets=true) and upgrade the release"
        )
        self.namespace = namespace
        self.secret_name = name


class PackError(ModelPrefetchError):
    """A model directory cannot be packed."""

    reason = "PackFailed"


class KubernetesError(ModelPrefetchError):
    """An API server call failed; `status` is the HTTP status (0: no answer at all)."""

    reason = "KubernetesError"
    temporary = True

    def __init__(self, message: str, *, status: int = 0, reason: str | None = None) -> None:
        super().__init__(message, reason=reason)
        self.status = status


class KubernetesNotFoundError(KubernetesError):
    """The object does not exist (404); retrying the same call cannot help."""

    reason = "NotFound"
    temporary = False
