#!/usr/bin/env python3
"""Opens N concurrent watches (HTTP/1.1 GET ?watch=1) and holds them until stdin closes.

usage: idle_watches.py HOST PORT PATH TOKEN N
Prints "ready N" once every watch has its response head (200), then waits; exits 1 if any failed.
"""
import asyncio, sys

async def watch(host, port, path, token, ready, failures, hold):
    try:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nAccept: application/json\r\n\r\n".encode())
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), 60)
        if b" 200 " not in status:
            failures.append(status)
        ready.append(1)
        await hold.wait()
        writer.close()
    except Exception as error:  # a refused or dropped watch is a failure of the run
        failures.append(repr(error))
        ready.append(1)

async def main():
    host, port, path, token, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
    ready, failures, hold = [], [], asyncio.Event()
    tasks = []
    for i in range(count):
        tasks.append(asyncio.create_task(watch(host, port, path, token, ready, failures, hold)))
        if i % 50 == 49:
            await asyncio.sleep(0.05)
    while len(ready) < count:
        await asyncio.sleep(0.1)
    print(f"ready {count - len(failures)} failed {len(failures)}", flush=True)
    if failures:
        print(f"first failure: {failures[0]}", file=sys.stderr, flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    hold.set()
    await asyncio.gather(*tasks)
    sys.exit(1 if failures else 0)

asyncio.run(main())
