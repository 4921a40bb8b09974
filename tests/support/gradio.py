"""Gradio's Python client, as the tests build it."""

from gradio_client import Client

# httpx's default of 5 s per request is a verdict on the machine's speed: twenty clients
# opening at once on a busy 2-core machine can wait longer for their first answers. The
# stream's heartbeats (every 15 s) keep well inside this.
PATIENCE_SECONDS = 120


def gradio_client(url: str, **options) -> Client:
    return Client(url, verbose=False, httpx_kwargs={"timeout": PATIENCE_SECONDS}, **options)
