"""A loopback TCP proxy whose faults a test switches at runtime: the API server slowed, silent or refusing.

A partition between onduty and its API server is not something a process of ours can cause on the real
network, but its symptoms are: bytes that stop flowing (a silent peer), connections reset and refused
(a peer gone), latency. The proxy sits between a client and one upstream on 127.0.0.1 and forwards
bytes untouched — TLS passes through, so the client still checks the API server's certificate (valid
for 127.0.0.1 at any port) and authenticates with its own::

    with FaultProxy(upstream_port) as proxy:
        kubeconfig = proxy.kubeconfig_for(cluster.kubeconfig, tmp_path / "via-proxy")
        ...
        proxy.pause()  # accept and read, forward nothing: the peer went silent
        proxy.drop()  # reset every connection, and every new one at once: the peer is gone
        proxy.delay(0.5)  # every chunk, each way, 500 ms late: a slow link
        proxy.pass_through()  # back to normal; held bytes flow on

Modes:

``pass``   forward at once.
``pause``  connections are accepted and read from, but nothing is forwarded (nor connected upstream)
           until the mode changes; what was held then flows, in order. TCP keeps both ends open, as
           in a partition: only the clients' own timeouts notice.
``drop``   existing connections are reset (RST, not FIN: an abrupt loss); new ones are accepted and
           reset at once (the listening port stays ours, so no other process can take it meanwhile).
``delay``  each chunk is forwarded ``seconds`` after it was read, in order, without slowing the
           throughput otherwise (latency, not bandwidth).

Counts (connections accepted, reset) let a test see how often a client reconnects: a client that
hammers a refusing server shows up as thousands of resets.

Standard library only; one asyncio loop in a daemon thread; it listens on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeVar

T = TypeVar("T")

# One read: a list response in a few reads. (A pause holds what was read in memory; an API server's
# answers to one operator are small enough for that.)
CHUNK: Final = 64 * 1024
# How long a test waits for the proxy's loop to do what it was told (start, switch, stop).
CONTROL_SECONDS: Final = 10.0

PASS: Final = "pass"
PAUSE: Final = "pause"
DROP: Final = "drop"
DELAY: Final = "delay"


@dataclass
class ProxyCounts:
    accepted: int = 0  # connections clients opened to the proxy
    reset: int = 0  # sockets the proxy reset (drop: both ends of each existing connection, and every new one)
    bytes_up: int = 0  # client -> upstream, forwarded
    bytes_down: int = 0  # upstream -> client, forwarded


class FaultProxy:
    """A TCP proxy on 127.0.0.1 to ``127.0.0.1:upstream_port``; see the module docstring."""

    def __init__(self, upstream_port: int, *, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self.mode = PASS
        self.latency = 0.0
        self.counts = ProxyCounts()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="fault-proxy")
        self._server: asyncio.Server | None = None
        self._flowing: asyncio.Event | None = None  # set unless paused
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    # -- life cycle -----------------------------------------------------------------

    def start(self) -> FaultProxy:
        self._thread.start()
        self._call(self._listen())
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self._call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(CONTROL_SECONDS)
        self._loop.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def kubeconfig_for(self, kubeconfig: Path, path: Path) -> Path:
        """A copy of ``kubeconfig`` whose every cluster's server is this proxy (credentials unchanged)."""
        import yaml

        config = yaml.safe_load(Path(kubeconfig).read_text())
        for entry in config.get("clusters") or []:
            entry["cluster"]["server"] = self.url
        path.write_text(yaml.safe_dump(config))
        return path

    # -- faults -----------------------------------------------------------------------

    def pass_through(self) -> None:
        self._switch(PASS, 0.0)

    def pause(self) -> None:
        self._switch(PAUSE, 0.0)

    def drop(self) -> None:
        self._switch(DROP, 0.0)

    def delay(self, seconds: float) -> None:
        self._switch(DELAY, seconds)

    def _switch(self, mode: str, latency: float) -> None:
        async def switch() -> None:
            self.mode, self.latency = mode, latency
            assert self._flowing is not None
            if mode == PAUSE:
                self._flowing.clear()
            else:
                self._flowing.set()
            if mode == DROP:
                for writer in list(self._writers):
                    self._reset(writer)

        self._call(switch())

    def counts_now(self) -> ProxyCounts:
        """A snapshot of the counts (the loop updates them)."""

        async def snapshot() -> ProxyCounts:
            return ProxyCounts(**vars(self.counts))

        return self._call(snapshot())

    # -- the loop's side ----------------------------------------------------------------

    def _call(self, coro: Awaitable[T]) -> T:
        async def run() -> T:
            return await coro

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(CONTROL_SECONDS)

    async def _listen(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0, limit=CHUNK)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _reset(self, writer: asyncio.StreamWriter) -> None:
        """Close with RST: SO_LINGER 0 makes the kernel abort instead of a graceful FIN."""
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
        self._writers.discard(writer)
        self.counts.reset += 1

    def _spawn(self, coro: Callable[[], Awaitable[None]]) -> None:
        async def run() -> None:
            await coro()

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.counts.accepted += 1
        if self.mode == DROP:
            self._reset(client_writer)
            return
        self._writers.add(client_writer)
        assert self._flowing is not None
        try:
            await self._flowing.wait()  # paused: the client's handshake waits, as behind a partition
            if self.mode == DROP:
                self._reset(client_writer)
                return
            up_reader, up_writer = await asyncio.open_connection(*self.upstream, limit=CHUNK)
        except (OSError, asyncio.CancelledError):
            if client_writer in self._writers:
                self._reset(client_writer)
            return
        self._writers.add(up_writer)
        done = asyncio.Event()

        async def up() -> None:
            await self._pump(client_reader, up_writer, "bytes_up", done)

        async def down() -> None:
            await self._pump(up_reader, client_writer, "bytes_down", done)

        self._spawn(up)
        self._spawn(down)
        await done.wait()
        # One direction ended (EOF, reset): the connection is over for both.
        for writer in (client_writer, up_writer):
            if writer in self._writers:
                self._writers.discard(writer)
                writer.transport.abort()

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, counter: str, done: asyncio.Event
    ) -> None:
        """Forward one direction. Chunks go through a queue stamped with when they may leave, so a delay
        adds latency without capping throughput; a pause stops the writer side only."""
        assert self._flowing is not None
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def read() -> None:
            try:
                while chunk := await reader.read(CHUNK):
                    queue.put_nowait((time.monotonic() + (self.latency if self.mode == DELAY else 0.0), chunk))
            except OSError:
                pass
            queue.put_nowait((0.0, b""))

        reading = asyncio.get_running_loop().create_task(read())
        try:
            while True:
                due, chunk = await queue.get()
                if not chunk:
                    break
                await self._flowing.wait()
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(chunk)
                await writer.drain()
                setattr(self.counts, counter, getattr(self.counts, counter) + len(chunk))
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            reading.cancel()
            with contextlib.suppress(BaseException):
                await reading
            done.set()
