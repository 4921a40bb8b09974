from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from .registry import all_functions, get_function


def function_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in all_functions()]


class Demo(models.Model):
    """A public demo: a registered inference function behind its own line."""

    # What visitors see
    slug = models.SlugField(
        unique=True,
        max_length=60,
        help_text="The demo's address: /demos/<slug>/. Letters, digits, - and _.",
    )
    title = models.CharField(max_length=120)
    description = models.TextField(blank=True, help_text="Shown above the form. Plain text.")
    function = models.CharField(
        max_length=100,
        choices=function_choices,
        help_text="The inference function, chosen from those registered in code.",
    )
    enabled = models.BooleanField(
        default=True, help_text="Off: the demo is hidden from the list and refuses new jobs."
    )
    paused = models.BooleanField(
        default=False,
        help_text="On: no new batch starts; waiting visitors keep their places and are told. "
        "Running batches finish. Pause and resume from the dashboard.",
    )
    examples = models.JSONField(
        default=list,
        blank=True,
        help_text="Example inputs that fill the form: a list of lists, one value per input. "
        "Images are given as URLs, e.g. /static/lineup/examples/gradient.png.",
    )

    # The line
    concurrency_count = models.PositiveIntegerField(
        default=1,
        validators=[MinValueValidator(1)],
        help_text="How many batches of this demo may run at once across the whole cluster "
        "(Gradio's concurrency_count).",
    )
    max_size = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="How many jobs may wait at once; running jobs do not count. A visitor who comes "
        "when the line is full is told so. Empty: no limit (Gradio's max_size).",
    )
    max_wait_seconds = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Refuse a join whose estimated wait is longer than this, telling the visitor the "
        "estimate, instead of letting them wait that long. Empty: no limit.",
    )
    max_jobs_per_visitor = models.PositiveIntegerField(
        null=True,
        blank=True,
        default=3,
        validators=[MinValueValidator(1)],
        help_text="How many jobs one visitor (browser session or API caller) may have waiting or "
        "running in this demo at once. Empty: no limit.",
    )
    batch = models.BooleanField(
        default=False,
        help_text="Run waiting jobs together in batches. Only for functions registered as batched.",
    )
    max_batch_size = models.PositiveIntegerField(
        default=4,
        validators=[MinValueValidator(1), MaxValueValidator(1024)],
        help_text="The most jobs one batch may hold (Gradio's max_batch_size).",
    )
    batch_wait_ms = models.PositiveIntegerField(
        default=0,
        validators=[MaxValueValidator(60_000)],
        help_text="How long a batch that is not full may wait for more jobs, in milliseconds. "
        "0: a lone job starts at once.",
    )
    job_timeout_seconds = models.PositiveIntegerField(
        default=60,
        validators=[MinValueValidator(1)],
        help_text="A running batch that takes longer fails with a timeout and frees its slot.",
    )
    expected_seconds = models.FloatField(
        default=1.0,
        validators=[MinValueValidator(0.001)],
        help_text="Seconds one run is expected to take: the ETA shown before the first run is measured.",
    )

    # Access and placement
    api_open = models.BooleanField(
        default=True,
        help_text="Off: the HTTP API refuses this demo, and so does a websocket without a token "
        "handed out with the demo page for its own browser session (Gradio's api_open, which "
        "here also closes the queue's websocket to bare scripts).",
    )
    worker_pool = models.CharField(
        max_length=60,
        default="default",
        validators=[
            RegexValidator(r"^[A-Za-z0-9_.-]+$", "Letters, digits, '.', '-' and '_' only.")
        ],
        help_text="The Celery queue whose workers run this demo, e.g. 'gpu'. Workers serve it "
        "with `celery -A demo_site worker -Q <pool>`.",
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title"]
        permissions = [("clear_line", "Can clear a demo's line")]

    def __str__(self) -> str:
        return self.title

    def clean(self) -> None:
        errors: dict[str, str] = {}
        try:
            function = get_function(self.function)
        except KeyError:
            raise ValidationError({"function": "Choose a registered function."}) from None
        if self.batch and not function.batch:
            errors["batch"] = (
                f"The function '{self.function}' does not accept batches; turn batching off or "
                "choose a batched function."
            )
        if not self.batch and function.batch:
            errors["batch"] = (
                f"The function '{self.function}' takes batches (one list per input); turn batching on."
            )
        if self.batch_wait_ms and not self.batch:
            errors["batch_wait_ms"] = (
                "Waiting for a batch to fill only applies when batching is on."
            )
        if self.examples:
            if not isinstance(self.examples, list) or not all(
                isinstance(row, list) and len(row) == len(function.inputs) for row in self.examples
            ):
                errors["examples"] = (
                    f"Give a list of examples, each a list of {len(function.inputs)} values "
                    "(one per input)."
                )
        if errors:
            raise ValidationError(errors)
