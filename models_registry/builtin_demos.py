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
    {
        "slug": "story",
        "title": "Story stream",
        "description": "Writes a short story about your topic, streaming it a word at a time.",
        "function": "tell_story",
        "examples": [["a curious cat"], ["the night train"]],
        "expected_seconds": 4,
        "concurrency_count": 2,
    },
    {
        "slug": "colour-report",
        "title": "Colour report",
        "description": "Names the main colours of an image. Uses the classic kinds of input and output.",
        "function": "colour_report",
        "examples": [
            ["/static/lineup/examples/gradient.png", "extended", 4, 1, False, "a gradient"],
            ["/static/lineup/examples/stripes.png", "basic", 3, 5, True, "stripes"],
        ],
        "expected_seconds": 0.1,
    },
    {
        # Needs the `minilm` extra; left out when it is not installed.
        "slug": "sentence-similarity",
        "title": "Sentence similarity (MiniLM, batched)",
        "description": "Ranks sentences by how close in meaning they are to yours, with the "
        "all-MiniLM-L6-v2 model. Waiting jobs are encoded together in batches.",
        "function": "sentence_similarity",
        "batch": True,
        "max_batch_size": 32,
        "examples": [
            [
                "A cat sits on the mat",
                "A kitten rests on a rug\nStock markets fell sharply\nThe dog sleeps outside",
            ],
            ["How do I bake bread?", "Recipe for sourdough\nFixing a flat tyre\nBread baking tips"],
        ],
        "expected_seconds": 0.05,
    },
    {
        "slug": "table-stats",
        "title": "Table stats",
        "description": "Summarises the numeric columns of a table with pandas, draws a histogram "
        "of each, and gives the summary back as a CSV file.",
        "function": "table_stats",
        "examples": [
            [
                {
                    "headers": ["city", "temperature", "rain_mm"],
                    "data": [
                        ["Oslo", 6.3, 61],
                        ["Lisbon", 17.4, 54],
                        ["Cairo", 22.1, 2],
                        ["Quito", 13.9, 88],
                        ["Perth", 18.6, 45],
                    ],
                }
            ]
        ],
        "expected_seconds": 0.5,
    },
    {
        "slug": "speech-tools",
        "title": "Speech tools",
        "description": "Record yourself or upload a sound; change its speed or pitch, or take "
        "out its noise, with FFmpeg's filters, and see the result's spectrogram.",
        "function": "speech_tools",
        "examples": [
            ["/static/lineup/examples/chirp.wav", "slower"],
            ["/static/lineup/examples/chirp.wav", "higher"],
        ],
        "expected_seconds": 1,
        "concurrency_count": 2,
    },
    {
        "slug": "video-thumbnails",
        "title": "Video thumbnails",
        "description": "Upload a video; get its key frames, spread over its length, as a "
        "gallery, with a table of their times.",
        "function": "video_thumbnails",
        "examples": [["/static/lineup/examples/ball.webm", 6]],
        "expected_seconds": 1,
        "concurrency_count": 2,
    },
    {
        # Needs the `minilm` extra; left out when it is not installed.
        "slug": "ask-the-docs",
        "title": "Ask the docs (MiniLM chat)",
        "description": "Answers questions about Lineup from its own docs: MiniLM finds the "
        "passages closest in meaning, and the answer streams in. Retry, Undo and Clear work "
        "on the conversation.",
        "function": "ask_the_docs",
        "examples": [
            ["How do I limit how many visitors wait?", []],
            ["What happens when a worker dies?", []],
        ],
        "expected_seconds": 3,
        "concurrency_count": 2,
    },
]
