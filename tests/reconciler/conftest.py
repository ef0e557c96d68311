"""The handler tests use the in-memory API server of the k8s tests."""

from tests.k8s.conftest import fake_api, kube

__all__ = ["fake_api", "kube"]
