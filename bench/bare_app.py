"""The reference for arrivals: a bare ASGI app that accepts every websocket at once and
answers each frame with a position, with no framework, database or Redis behind it. Served
by the same daphne command as Lineup, it shows what daphne itself can do."""

import json


async def application(scope, receive, send):
    if scope["type"] == "http":  # the bench's readiness check
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        return
    if scope["type"] != "websocket":
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": json.dumps({"msg": "hello", "protocol": 1})})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        frame = {"msg": "estimation", "job": "bare", "rank": 0, "rank_eta": 0.0}
        await send({"type": "websocket.send", "text": json.dumps(frame)})
