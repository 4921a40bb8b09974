"""The Gradio reference for W1–W3: the same functions behind Gradio's own queue.

Runs in a virtualenv of its own (`make bench` makes `.venv-gradio`), since Gradio pins
packages below the versions Lineup uses:

    .venv-gradio/bin/python bench/gradio_app.py <port> <concurrency>
"""

import sys
import time

import gradio as gr


def identity(text: str) -> str:
    return text


def sleepy_batch(texts: list[str]) -> list[list[str]]:
    """Lineup's `sleepy_batch`: 50 ms plus 1 ms per item, then the batch echoed."""
    time.sleep(0.050 + 0.001 * len(texts))
    return [texts]


def main() -> None:
    port, concurrency = int(sys.argv[1]), int(sys.argv[2])
    with gr.Blocks() as demo:
        text, out = gr.Textbox(), gr.Textbox()
        run = gr.Button()
        run.click(identity, text, out, api_name="identity", concurrency_limit=concurrency)
        run.click(
            sleepy_batch,
            text,
            out,
            api_name="batch",
            batch=True,
            max_batch_size=16,
            concurrency_limit=concurrency,
        )
    demo.queue().launch(
        server_name="127.0.0.1",
        server_port=port,
        quiet=True,
        ssr_mode=False,
        prevent_thread_lock=False,
    )


if __name__ == "__main__":
    main()
