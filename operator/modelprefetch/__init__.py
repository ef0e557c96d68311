"""modelprefetch: prefetch OCI/ModelPack AI models onto Kubernetes nodes and mount them."""

__version__ = "0.1.0"
