"""The demos `make run` loads: one per kind of path through the queue."""

BUILTIN_DEMOS = [
    {
        "slug": "image-echo",
        "title": "Image echo",
        "description": "Upload an image and get the same image back: the shortest trip through the line.",
        "function": "identity_image",
        "examples": [
            ["/static/lineup/examples/gradient.png"],
            ["/static/lineup/examples/stripes.png"],
        ],
        "expected_seconds": 0.05,
    },
    {
        "slug": "image-filter",
        "title": "Image filter (batched)",
        "description": "Applies a filter to your image. Waiting images are filtered together in batches.",
        "function": "image_filter",
        "batch": True,
        "max_batch_size": 8,
        "examples": [
            ["/static/lineup/examples/gradient.png", "grayscale"],
            ["/static/lineup/examples/stripes.png", "contour"],
        ],
        "expected_seconds": 0.1,
    },
    {
        "slug": "trim-words",
        "title": "Trim words (batched)",
        "description": "Keeps the first letters of a word. Gradio's batching example, batched up to 16 at a time.",
        "function": "trim_words",
        "batch": True,
        "max_batch_size": 16,
        "examples": [["lineup", 4], ["batching", 5]],
        "expected_seconds": 0.05,
    },
    {
        "slug": "slow-steps",
        "title": "Slow steps",
        "description": "Takes half a second per step and reports its progress after each one.",
        "function": "slow_steps",
        "examples": [[4], [10]],
        "expected_seconds": 2.5,
        "concurrency_count": 2,
    },
    {
        "slug": "text-echo",
        "title": "Text echo",
        "description": "Returns the text it is given; the benchmarks' identity function.",
        "function": "identity_text",
        "examples": [["Hello, Lineup!"]],
        "expected_seconds": 0.01,
    },
]
