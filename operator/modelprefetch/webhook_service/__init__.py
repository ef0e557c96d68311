"""The I/O side of the admission webhooks, in each operator replica.

    runner.py     start everything below and the HTTPS server (`webhook.server`)
    watch.py      the ModelDeployment watch that keeps the in-memory index current
    tls.py        the serving certificate: issued into a Secret and rotated (self mode),
                  or read from cert-manager's mounted files and reloaded when renewed;
                  caBundle patched on both webhook configurations
    selectors.py  the per-podSelector entries of the mutating configuration

The `webhook` package itself does no I/O; this is its I/O side.
"""
