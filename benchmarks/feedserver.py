"""A small asyncio HTTP/1.1 server for benchmarks: fixed latency, ETags, keep-alive.

Serves files from a folder on every given address; a request with a
matching If-None-Match gets a 304. Run as a separate process so that its
CPU is not counted against the client being measured.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
from pathlib import Path


async def serve(root: Path, hosts: list[str], port: int, latency: float) -> None:
    bodies: dict[str, tuple[bytes, str]] = {}
    for path in root.glob("*.xml"):
        data = path.read_bytes()
        bodies["/" + path.name] = (data, '"' + hashlib.sha1(data).hexdigest()[:16] + '"')

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                target = lines[0].split(" ")[1]
                headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
                await asyncio.sleep(latency)
                found = bodies.get(target)
                if found is None:
                    writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                elif headers.get("if-none-match") == found[1]:
                    writer.write(b"HTTP/1.1 304 Not Modified\r\nETag: " + found[1].encode() + b"\r\nContent-Length: 0\r\n\r\n")
                else:
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml; charset=utf-8\r\nETag: "
                        + found[1].encode() + b"\r\nContent-Length: " + str(len(found[0])).encode() + b"\r\n\r\n" + found[0]
                    )
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError, IndexError):
            pass
        finally:
            writer.close()

    servers = [await asyncio.start_server(handle, host, port, backlog=512) for host in hosts]
    print("ready", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


if __name__ == "__main__":
    root, port, latency, *hosts = sys.argv[1:]
    asyncio.run(serve(Path(root), hosts, int(port), float(latency)))
