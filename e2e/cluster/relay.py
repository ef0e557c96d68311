"""Byte relays between network namespaces over Unix sockets, and an HTTP CONNECT proxy.

Run as a script (stdlib only) inside whichever network namespace a side belongs to:

    python3 relay.py --tag DIR --ready FILE LISTEN=TARGET ... [--connect-proxy unix:PATH]

`LISTEN` and `TARGET` are `tcp:HOST:PORT` or `unix:PATH`. A Unix socket lives on the
shared filesystem, so it is the bridge between namespaces: `tcp:10.77.0.1:6443=unix:api`
in one namespace and `unix:api=tcp:127.0.0.1:6443` in another relay one TCP connection
without any route between them. `--connect-proxy unix:PATH` serves HTTP CONNECT on PATH
(the kube-apiserver's egress selector speaks it) and dials the named host:port from the
namespace the relay runs in. `--tag` only marks the command line so the harness can find
the relays of one network and stop them. `--ready` is written once every socket listens.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import os
import sys
from pathlib import Path

BUFFER = 256 * 1024
# CONNECT targets the proxy accepts: the private ranges the harness's namespaces use.
ALLOWED_TARGETS = (ipaddress.ip_network("10.0.0.0/8"),)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(BUFFER):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()


async def _splice(
    a: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    b: tuple[asyncio.StreamReader, asyncio.StreamWriter],
) -> None:
    try:
        await asyncio.gather(_pipe(a[0], b[1]), _pipe(b[0], a[1]))
    finally:
        for writer in (a[1], b[1]):
            with contextlib.suppress(OSError, RuntimeError):
                writer.close()


async def _open(target: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    kind, _, rest = target.partition(":")
    if kind == "unix":
        return await asyncio.open_unix_connection(rest)
    host, _, port = rest.rpartition(":")
    return await asyncio.open_connection(host, int(port))


async def _serve(listen: str, handler: object) -> asyncio.AbstractServer:
    kind, _, rest = listen.partition(":")
    if kind == "unix":
        Path(rest).unlink(missing_ok=True)
        return await asyncio.start_unix_server(handler, rest)  # type: ignore[arg-type]
    host, _, port = rest.rpartition(":")
    return await asyncio.start_server(handler, host, int(port), reuse_address=True)  # type: ignore[arg-type]


def _forwarder(target: str) -> object:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream = await asyncio.wait_for(_open(target), 10)
        except (OSError, TimeoutError):
            writer.close()
            return
        await _splice((reader, writer), upstream)

    return handle


async def _connect_proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """One HTTP CONNECT tunnel: read the request head, dial, answer 200, relay bytes."""
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        method, authority, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
        host, _, port = authority.rpartition(":")
        address = ipaddress.ip_address(host.strip("[]"))
        if method != "CONNECT" or not any(address in net for net in ALLOWED_TARGETS):
            writer.write(b"HTTP/1.1 403 Forbidden\r\n\r\n")
            writer.close()
            return
        upstream = await asyncio.wait_for(asyncio.open_connection(str(address), int(port)), 10)
    except (OSError, ValueError, TimeoutError, asyncio.IncompleteReadError) as err:
        with contextlib.suppress(OSError):
            writer.write(f"HTTP/1.1 502 Bad Gateway\r\n\r\n{err}".encode())
            writer.close()
        return
    writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
    await _splice((reader, writer), upstream)


async def main(args: argparse.Namespace) -> None:
    servers = []
    for spec in args.forward:
        listen, _, target = spec.partition("=")
        servers.append(await _serve(listen, _forwarder(target)))
    if args.connect_proxy:
        servers.append(await _serve(args.connect_proxy, _connect_proxy))
    if args.ready:
        Path(args.ready).write_text(str(os.getpid()))
    await asyncio.gather(*(s.serve_forever() for s in servers))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--tag", required=True)
    parser.add_argument("--ready")
    parser.add_argument("--connect-proxy")
    parser.add_argument("forward", nargs="*")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(parser.parse_args()))
    sys.exit(0)
