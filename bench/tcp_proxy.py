"""
A loopback TCP proxy run as its own process, so that killing it takes an endpoint away while the server behind it
(moto) keeps its state: ``python -m bench.tcp_proxy --listen PORT --target PORT``.

SIGKILL drops every open connection mid-request and leaves the port refusing connections until a new proxy
starts; that is what an SQS endpoint outage looks like to botocore. Only loopback addresses are ever used.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import subprocess
import sys
from pathlib import Path

from hokusai_testkit.ports import LOOPBACK, wait_for_port

CHUNK = 64 * 1024


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def _serve(listen: int, target: int) -> None:
    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(LOOPBACK, target)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(_pump(client_reader, server_writer), _pump(server_reader, client_writer))

    server = await asyncio.start_server(handle, LOOPBACK, listen, reuse_address=True)
    async with server:
        await server.serve_forever()


class ProxyProcess:
    """Start and SIGKILL a proxy process in front of ``target``, always on the same ``listen`` port."""

    def __init__(self, listen: int, target: int) -> None:
        self.listen = listen
        self.target = target
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        root = Path(__file__).resolve().parent.parent
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.tcp_proxy", "--listen", str(self.listen), "--target", str(self.target)],
            cwd=root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_port(self.listen, timeout=20)
        except TimeoutError:
            self.kill()
            raise

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tcp_proxy", description=__doc__.strip().splitlines()[0])
    parser.add_argument("--listen", type=int, required=True, help="Loopback port to accept connections on.")
    parser.add_argument("--target", type=int, required=True, help="Loopback port to forward them to.")
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.listen, args.target))
    return 0


if __name__ == "__main__":
    sys.exit(main())
