"""Local Kubernetes for tests without Docker: etcd + control plane + kwok + registries."""
