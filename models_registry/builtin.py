"""The built-in demo functions, loaded by `make run` (see `load_demos`)."""

import io
import time

from PIL import Image as PILImage
from PIL import ImageFilter, ImageOps

from .components import (
    JSON,
    Audio,
    Checkbox,
    Dataframe,
    Dropdown,
    File,
    Gallery,
    Image,
    Label,
    Markdown,
    Number,
    Radio,
    Slider,
    Text,
    Video,
)
from .registry import register


@register(inputs=[Image("Image")], outputs=[Image("Same image")])
def identity_image(image: PILImage.Image) -> PILImage.Image:
    """Returns the image it is given: the shortest path through the line and back."""
    return image


@register(inputs=[Text("Text")], outputs=[Text("Same text")])
def identity_text(text: str) -> str:
    """Returns the text it is given."""
    return text


FILTERS = ("grayscale", "blur", "contour", "invert", "mirror")


def _apply_filter(image: PILImage.Image, name: str) -> PILImage.Image:
    image = image.convert("RGB")
    if name == "grayscale":
        return ImageOps.grayscale(image)
    if name == "blur":
        return image.filter(ImageFilter.GaussianBlur(radius=3))
    if name == "contour":
        return image.filter(ImageFilter.CONTOUR)
    if name == "invert":
        return ImageOps.invert(image)
    return ImageOps.mirror(image)


@register(
    inputs=[Image("Image"), Dropdown("Filter", choices=FILTERS, default="grayscale")],
    outputs=[Image("Filtered image")],
    batch=True,
)
def image_filter(images: list[PILImage.Image], filters: list[str]) -> list[list[PILImage.Image]]:
    """Applies a filter to each image of a batch."""
    return [[_apply_filter(image, name) for image, name in zip(images, filters)]]


@register(
    inputs=[
        Text("Word", max_length=200),
        Slider("Length", minimum=0, maximum=50, step=1, default=3),
    ],
    outputs=[Text("Trimmed word")],
    batch=True,
)
def trim_words(words: list[str], lengths: list[float]) -> list[list[str]]:
    """Keeps the first `length` letters of each word (Gradio's batching example)."""
    return [[word[: int(length)] for word, length in zip(words, lengths)]]


@register(
    inputs=[Slider("Steps", minimum=1, maximum=20, step=1, default=5)],
    outputs=[Text("Report")],
)
def slow_steps(steps: float, progress, log) -> str:
    """Works through its steps for half a second each, reporting progress after each one,
    and says so when it is halfway."""
    total = int(steps)
    for done in range(total):
        time.sleep(0.5)
        if done + 1 == (total + 1) // 2:
            log(f"Halfway: {done + 1} of {total} steps done.", "success")
        progress(done + 1, total, f"step {done + 1} of {total}")
    return f"finished {total} steps"


@register(inputs=[Text("Text")], outputs=[Text("Same text")], batch=True)
def sleepy_batch(texts: list[str]) -> list[list[str]]:
    """Sleeps 50 ms plus 1 ms per item, then echoes the batch: a model-like cost profile."""
    time.sleep(0.050 + 0.001 * len(texts))
    return [list(texts)]


STORY = (
    "Once upon a time {topic} joined a long line. Nobody pushed, nobody skipped ahead, and "
    "every few moments the line told {topic} how far it had come. When the turn of {topic} "
    "came at last, the answer was ready in a blink, and {topic} went home happy."
)


@register(
    inputs=[Text("Topic", max_length=40, placeholder="a curious cat")],
    outputs=[Text("Story")],
)
def tell_story(topic: str):
    """Writes a short story a word at a time, streaming it as a language model would."""
    words = STORY.format(topic=topic.strip() or "a visitor").split()
    for count in range(1, len(words) + 1):
        time.sleep(0.08)
        yield " ".join(words[:count])


COLOUR_NAMES = {
    "basic": {
        "black": (0, 0, 0),
        "white": (255, 255, 255),
        "gray": (128, 128, 128),
        "red": (220, 40, 40),
        "green": (40, 160, 60),
        "blue": (40, 80, 220),
        "yellow": (240, 220, 40),
        "purple": (130, 60, 170),
    },
}
COLOUR_NAMES["extended"] = {
    **COLOUR_NAMES["basic"],
    "orange": (245, 140, 30),
    "pink": (240, 140, 190),
    "brown": (120, 75, 40),
    "cyan": (40, 200, 220),
}


def _nearest(pixel: tuple[int, int, int], names: dict[str, tuple[int, int, int]]) -> str:
    return min(names, key=lambda n: sum((a - b) ** 2 for a, b in zip(pixel, names[n])))


@register(
    inputs=[
        Image("Image"),
        Dropdown("Colour names", choices=("basic", "extended"), default="extended"),
        Slider("Colours to show", minimum=1, maximum=8, step=1, default=4),
        Number("Minimum share (%)", minimum=0, maximum=100),
        Checkbox("Ignore black, white and gray"),
        Text("Note", max_length=200, placeholder="anything to keep with the report"),
    ],
    outputs=[Label("Main colours", top=8), JSON("Details"), Image("Swatches")],
)
def colour_report(image, palette, shown, min_share, ignore_neutral, note):
    """Names the main colours of an image with their shares: every kind of input and output."""
    names = COLOUR_NAMES[palette]
    if ignore_neutral:
        names = {n: c for n, c in names.items() if n not in ("black", "white", "gray")}
    small = image.convert("RGB").resize((48, 48))
    counts: dict[str, int] = {}
    for pixel in small.getdata():
        name = _nearest(pixel, names)
        counts[name] = counts.get(name, 0) + 1
    total = sum(counts.values())
    shares = {n: c / total for n, c in counts.items() if 100 * c / total >= min_share}
    top = dict(sorted(shares.items(), key=lambda item: item[1], reverse=True)[: int(shown)])
    swatches = PILImage.new("RGB", (40 * max(1, len(top)), 40), "white")
    for index, name in enumerate(top):
        swatches.paste(names[name], (40 * index, 0, 40 * index + 40, 40))
    details = {
        "size": list(image.size),
        "mode": image.mode,
        "colours_found": len(counts),
        "note": note,
    }
    return top, details, swatches


# Table stats: the columns it plots at most, and the size of each plot in inches.
MAX_PLOTS = 12
PLOT_INCHES = (4, 3)


def _histogram(values, title: str) -> PILImage.Image:
    """A histogram of a column, drawn with matplotlib (without pyplot: safe in threads)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=PLOT_INCHES, dpi=80)
    axes = figure.add_subplot()
    axes.hist(values, bins="auto", color="#3b5bdb")
    axes.set_title(title)
    return _as_image(figure)


def _as_image(figure) -> PILImage.Image:
    """A matplotlib figure, laid out and drawn as a PNG image."""
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return PILImage.open(buffer)


@register(
    inputs=[Dataframe("Table")],
    outputs=[Markdown("Overview"), Dataframe("Summary"), Gallery("Histograms"), File("Summary")],
    warm_up=lambda: _histogram([0, 1], "warm-up"),  # pandas, matplotlib and its font cache
)
def table_stats(table):
    """Summarises each numeric column of a table (count, mean, spread, quartiles) with pandas,
    draws its histogram with matplotlib, and offers the summary as a CSV file."""
    import pandas

    numeric = table.apply(pandas.to_numeric, errors="coerce").dropna(axis=1, how="all")
    if numeric.empty:
        overview = f"No numeric column among {len(table.columns)}: nothing to summarise."
        return overview, [], [], ("summary.csv", b"")
    summary = numeric.describe().T.round(4).reset_index(names="column")
    plots = [
        (_histogram(numeric[name].dropna(), str(name)), str(name))
        for name in list(numeric.columns)[:MAX_PLOTS]
    ]
    overview = (
        f"**{len(table)} rows**, {len(table.columns)} columns, of which "
        f"**{len(numeric.columns)} numeric**: {', '.join(f'`{c}`' for c in numeric.columns)}."
    )
    return overview, summary, plots, ("summary.csv", summary.to_csv(index=False).encode())


# Speech tools: each effect as an FFmpeg filter chain (the sample rate is filled in).
EFFECTS = {
    "slower": "atempo=0.75",
    "faster": "atempo=1.5",
    "higher": "asetrate={rate}*1.25,aresample={rate},atempo=0.8",
    "lower": "asetrate={rate}*0.8,aresample={rate},atempo=1.25",
    "denoise": "afftdn=nf=-25",
}


def _filtered(rate: int, samples, chain: str):
    """Samples run through an FFmpeg filter chain (PyAV's filter graph)."""
    import av
    import numpy

    layout = "mono" if samples.shape[1] == 1 else "stereo"
    graph = av.filter.Graph()
    source = graph.add_abuffer(format="flt", sample_rate=rate, layout=layout)
    chain_node = graph.add("aformat", f"sample_fmts=flt:channel_layouts={layout}")
    nodes = [source]
    for step in chain.split(","):
        name, _, arguments = step.partition("=")
        nodes.append(graph.add(name, arguments or None))
    nodes += [chain_node, graph.add("abuffersink")]
    graph.link_nodes(*nodes).configure()
    frame = av.AudioFrame.from_ndarray(
        numpy.ascontiguousarray(samples, numpy.float32).reshape(1, -1), format="flt", layout=layout
    )
    frame.sample_rate = rate
    graph.push(frame)
    graph.push(None)
    out = []
    while True:
        try:
            out.append(graph.pull().to_ndarray().reshape(-1, samples.shape[1]))
        except (av.error.BlockingIOError, av.error.EOFError):
            break
    return numpy.concatenate(out) if out else samples[:0]


def _spectrogram(rate: int, samples, title: str) -> PILImage.Image:
    import numpy
    from matplotlib import mlab
    from matplotlib.figure import Figure

    power, frequencies, times = mlab.specgram(samples[:, 0], NFFT=512, Fs=rate, noverlap=384)
    figure = Figure(figsize=(6, 2.5), dpi=80)
    axes = figure.add_subplot()
    # In decibels, silence (no power at all) drawn as the quietest level shown.
    level = 10 * numpy.log10(numpy.maximum(power, 1e-12))
    axes.pcolormesh(times, frequencies, level, cmap="magma", shading="auto", vmin=-120)
    axes.set_xlabel("seconds")
    axes.set_ylabel("Hz")
    axes.set_title(title)
    return _as_image(figure)


@register(
    inputs=[
        Audio("Recording"),
        Radio("Effect", choices=tuple(EFFECTS), default="slower"),
    ],
    outputs=[Audio("Result"), Image("Spectrogram")],
    warm_up=lambda: _histogram([0, 1], "warm-up"),
)
def speech_tools(recording, effect: str):
    """Changes a recording's speed or pitch, or takes out its noise, with FFmpeg's filters
    (through PyAV), and draws the result's spectrogram with matplotlib."""
    rate, samples = recording
    result = _filtered(rate, samples, EFFECTS[effect].format(rate=rate))
    return (rate, result), _spectrogram(rate, result, f"{effect}: {len(result) / rate:.2f} s")


@register(
    inputs=[Video("Video"), Slider("Pictures", minimum=2, maximum=16, step=1, default=6)],
    outputs=[Gallery("Key frames", columns=3), Dataframe("Times")],
)
def video_thumbnails(path: str, wanted: float):
    """The video's key frames (those a decoder can start from), spread evenly over its length,
    as a gallery and a table of their times; decoded with PyAV, which carries FFmpeg."""
    import av

    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "NONKEY"  # decode only the key frames
        keys = [(float(frame.time or 0), frame.to_image()) for frame in container.decode(stream)]
    count = min(int(wanted), len(keys))
    picked = [keys[round(n * (len(keys) - 1) / max(count - 1, 1))] for n in range(count)]
    pictures = [(image, f"{seconds:.2f} s") for seconds, image in picked]
    times = {
        "headers": ["picture", "seconds", "width", "height"],
        "data": [
            [n + 1, round(s, 3), image.width, image.height] for n, (s, image) in enumerate(picked)
        ],
    }
    return pictures, times
