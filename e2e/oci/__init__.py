"""End-to-end tests of modelprefetch.oci against real local registries and tools."""
