from django.core.management.base import BaseCommand

from models_registry.builtin_demos import BUILTIN_DEMOS
from models_registry.models import Demo
from models_registry.registry import all_functions


class Command(BaseCommand):
    help = "Create the built-in demos that are missing. --reset puts back their built-in settings."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--reset", action="store_true", help="Overwrite admins' changes to built-in demos."
        )

    def handle(self, *args, reset: bool = False, **options) -> None:
        functions = all_functions()
        for spec in BUILTIN_DEMOS:
            if spec["function"] not in functions:
                # An optional demo whose extra is not installed (the real model's, say).
                continue
            fields = {k: v for k, v in spec.items() if k != "slug"}
            demo = Demo.objects.filter(slug=spec["slug"]).first()
            if demo and not reset:
                # Republish so a fresh Redis knows the demo's settings.
                demo.save(update_fields=["updated_at"])
                continue
            demo = demo or Demo(slug=spec["slug"])
            for name, value in fields.items():
                setattr(demo, name, value)
            demo.full_clean()
            demo.save()
            self.stdout.write(f"loaded demo {demo.slug}")
