"""`make run`: the whole stack in the foreground, stopped with Ctrl-C."""

import os
import secrets
import signal
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from demo_site import embedded_redis, processes
from models_registry.models import Demo
from queueapp.store import get_store


class Command(BaseCommand):
    help = (
        "Migrate, load the built-in demos, create an admin, and run daphne (LINEUP_WEB_PROCESSES "
        "processes on one port) and a Celery worker."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default=os.environ.get("LINEUP_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("LINEUP_PORT", "8000")))
        parser.add_argument("--worker-threads", type=int, default=2, help="Celery worker threads.")

    def handle(self, *args, host: str, port: int, worker_threads: int, **options) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        call_command("load_demos")
        username, password = self.ensure_admin()
        pools = sorted({"default", *Demo.objects.values_list("worker_pool", flat=True)})

        env = {"REDIS_URL": settings.REDIS_URL, "LINEUP_VAR_DIR": str(settings.VAR_DIR)}
        web = processes.start_web(
            host=host, port=port, count=settings.LINEUP_WEB_PROCESSES, env=env
        )
        worker = processes.start(
            processes.worker_command(pools=pools, concurrency=worker_threads), env=env
        )
        children = [*web, worker]
        stopping = False

        def stop_all(signum=None, frame=None) -> None:
            nonlocal stopping
            if stopping:
                return
            stopping = True
            self.stdout.write("\nStopping Lineup…")
            for child in reversed(children):
                processes.stop(child)
            embedded_redis.stop_if_started_here()

        signal.signal(signal.SIGINT, stop_all)
        signal.signal(signal.SIGTERM, stop_all)
        try:
            processes.wait_until_serving(port, host=host, process=web[0])
            self.wait_for_worker(pools, process=worker)
        except (RuntimeError, TimeoutError) as error:
            stop_all()
            raise SystemExit(f"Lineup did not start: {error}") from None

        base = f"http://{host}:{port}"
        self.stdout.write(
            self.style.SUCCESS("\nLineup is running.\n")
            + f"  Demos:  {base}/   ({len(web)} web processes)\n"
            + f"  Admin:  {base}/admin/   user: {username}   password: {password}\n"
            + f"  Redis:  {settings.REDIS_URL}\n"
            + f"  Worker pools: {', '.join(pools)}\n"
            + "Press Ctrl-C to stop.\n"
        )
        while not stopping:
            for child in children:
                if child.poll() is not None and not stopping:
                    self.stderr.write(f"a child process exited with {child.returncode}; stopping")
                    stop_all()
            time.sleep(0.5)

    def wait_for_worker(self, pools: list[str], *, process, timeout: float = 60) -> None:
        """Until the worker has announced itself to its pools, so the first visitor finds it."""
        deadline = time.monotonic() + timeout
        while not all(get_store().pool_alive(pool) for pool in pools):
            if process.poll() is not None:
                raise RuntimeError(f"the worker exited with {process.returncode}")
            if time.monotonic() > deadline:
                raise TimeoutError("the worker did not announce itself")
            time.sleep(0.2)

    def ensure_admin(self) -> tuple[str, str]:
        """The admin's login: from LINEUP_ADMIN_PASSWORD, else generated once and kept in var/."""
        username = os.environ.get("LINEUP_ADMIN_USER", "admin")
        password_file = settings.VAR_DIR / "admin-password"
        password = os.environ.get("LINEUP_ADMIN_PASSWORD")
        if not password and password_file.exists():
            password = password_file.read_text().strip()
        if not password:
            password = secrets.token_urlsafe(12)
            password_file.write_text(password)
            password_file.chmod(0o600)
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is None:
            User.objects.create_superuser(username=username, password=password)
        elif os.environ.get("LINEUP_ADMIN_PASSWORD"):
            user.set_password(password)
            user.save()
        elif not user.check_password(password):
            password = "(changed since it was created; unchanged)"
        return username, password
