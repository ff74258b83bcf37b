#!/usr/bin/env python3
"""bench/lib/throttle.py LISTEN_PORT TARGET_PORT BYTES_PER_SECOND

A TCP proxy on 127.0.0.1:LISTEN_PORT in front of 127.0.0.1:TARGET_PORT that lets the answers
through at BYTES_PER_SECOND in total: all connections share one budget, as parallel downloads
from a registry across the internet share one link. Requests go through unthrottled. Prints
"ready" once it listens; runs until killed.
"""
import asyncio
import sys
import time

listen, target, rate = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
# The link's clock: when the bytes sent so far will have left it.
link = {"free_at": time.monotonic()}
BURST = 0.05  # seconds of data allowed ahead of the clock


async def take(n):
    now = time.monotonic()
    link["free_at"] = max(link["free_at"], now) + n / rate
    delay = link["free_at"] - now - BURST
    if delay > 0:
        await asyncio.sleep(delay)


async def pipe(reader, writer, throttled):
    try:
        while True:
            data = await reader.read(64 * 1024)
            if not data:
                break
            if throttled:
                await take(len(data))
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


async def handle(client_r, client_w):
    try:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", target)
    except OSError:
        client_w.close()
        return
    await asyncio.gather(pipe(client_r, server_w, False), pipe(server_r, client_w, True))


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
