"""The oci unit tests' fake registry and client, reused for the verification tests."""

from tests.oci.conftest import client, registry, sleeps

__all__ = ["client", "registry", "sleeps"]
