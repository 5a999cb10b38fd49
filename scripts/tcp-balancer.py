#!/usr/bin/env python3
"""A TCP load balancer as a Kubernetes Service would be: each connection goes to the first backend,
in a shuffled order, that accepts it. usage: scripts/tcp-balancer.py PORT BACKEND_PORT..."""
import asyncio, random, sys

port, backends = int(sys.argv[1]), [int(p) for p in sys.argv[2:]]

async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except Exception:
        pass
    finally:
        writer.close()

async def handle(reader, writer):
    for backend in random.sample(backends, len(backends)):
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", backend)
        except OSError:
            continue
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        return
    writer.close()

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=4096)
    print("listening", flush=True)
    await server.serve_forever()

asyncio.run(main())
