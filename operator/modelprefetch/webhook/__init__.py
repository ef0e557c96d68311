"""Admission webhooks: pod mutation (image volumes for models) and ModelDeployment validation.

No kopf and no Kubernetes client here: the operator feeds `ModelIndex` from its watch,
implements `certs.SecretStore`, and applies what `config` builds.
"""
