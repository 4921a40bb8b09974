"""Lineup's settings, read from the environment with defaults that are safe on a laptop.

Production sets at least SECRET_KEY, ALLOWED_HOSTS, DATABASE_URL, REDIS_URL and
CSRF_TRUSTED_ORIGINS; docs/operations.md lists every variable.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from . import embedded_redis

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("LINEUP_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG")
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG and env_bool("LINEUP_PRODUCTION"):
        raise ImproperlyConfigured("SECRET_KEY must be set in production")
    SECRET_KEY = "insecure-laptop-only-key-set-SECRET_KEY-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "models_registry",
    "queueapp",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "demo_site.urls"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "account"
LOGOUT_REDIRECT_URL = "demo-list"
ASGI_APPLICATION = "demo_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "0")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # Several processes (daphne, workers) share the file: wait for locks instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "staticfiles"))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# Serve static files straight from the finders when collectstatic has not run (laptops, tests).
WHITENOISE_USE_FINDERS = True

# Uploaded inputs and produced outputs (images). Web processes and workers must share this
# storage: a local folder on one box, object storage (django-storages) across several.
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))

# --- Redis: the queue of record, the channel layer and the Celery broker -----------------
# Redis Sentinel, for a Redis that outlives its master: the sentinels ("host:port,...") that
# watch the master named LINEUP_REDIS_MASTER. When set, the queue's store, the channel layer
# and the Celery broker all ask them where the master is, and follow it across a failover.
REDIS_SENTINELS = [
    (host, int(port))
    for host, port in (
        entry.strip().rsplit(":", 1)
        for entry in os.environ.get("LINEUP_REDIS_SENTINELS", "").split(",")
        if entry.strip()
    )
]
REDIS_MASTER = os.environ.get("LINEUP_REDIS_MASTER", "lineup")
if REDIS_SENTINELS:
    REDIS_URL = f"sentinel://{REDIS_MASTER}"  # for people to read: the sentinels say where
else:
    REDIS_URL = os.environ.get("REDIS_URL") or embedded_redis.ensure_running(VAR_DIR / "redis")
# How many replicas must have a batch (and its slot lease) before a worker runs it, so that
# a failover cannot hand the same batch out twice; 0: do not wait (docs/operations.md).
LINEUP_REDIS_MIN_REPLICAS = int(os.environ.get("LINEUP_REDIS_MIN_REPLICAS", "0"))
LINEUP_REDIS_REPLICA_WAIT_MS = int(os.environ.get("LINEUP_REDIS_REPLICA_WAIT_MS", "500"))

# The channel layer rides on Redis pub/sub: a message costs one PUBLISH and reaches each web
# process once, which then hands it to its own sockets (docs/architecture.md says why).
# redis-py 8 defaults to a 5 s socket timeout, which kills idle subscribers, and to a
# 100-connection async pool, which refuses bursts; both are lifted here.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "queueapp.layers.ProcessChannelLayer",
        "CONFIG": {
            "hosts": [
                {
                    **(
                        {"sentinels": REDIS_SENTINELS, "master_name": REDIS_MASTER}
                        if REDIS_SENTINELS
                        else {"address": REDIS_URL}
                    ),
                    "socket_timeout": None,
                    "max_connections": int(
                        os.environ.get("CHANNEL_LAYER_MAX_CONNECTIONS", "10000")
                    ),
                    # No client name: looking up redis-py's version costs ~1 ms per connection.
                    "driver_info": None,
                }
            ],
            "prefix": "lineup:layer:",
        },
    }
}

CELERY_BROKER_URL = os.environ.get(
    "CELERY_BROKER_URL",
    ";".join(f"sentinel://{host}:{port}/0" for host, port in REDIS_SENTINELS) or REDIS_URL,
)
CELERY_TASK_IGNORE_RESULT = True
# No results are kept, so the (disabled) result backend is one per process: Celery otherwise
# makes one in every thread that sends a task, looking through every installed package's
# entry points each time (the web process wakes workers from a pool of threads).
CELERY_RESULT_BACKEND_THREAD_SAFE = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
# Redelivery of an unacknowledged wake-up: well above the longest job. Jobs themselves are
# recovered by their leases in Redis, not by this timeout.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
if REDIS_SENTINELS:
    CELERY_BROKER_TRANSPORT_OPTIONS["master_name"] = REDIS_MASTER
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Lineup ----------------------------------------------------------------------------
# How many daphne processes `runstack` serves with, all on one listening socket: one per
# core, at most 4, unless set.
LINEUP_WEB_PROCESSES = int(os.environ.get("LINEUP_WEB_PROCESSES", "0")) or min(
    os.cpu_count() or 1, 4
)
# How long an arriving visitor's websocket may wait for its handshake, in seconds. In a
# burst, handshakes queue up behind each other; daphne's default (5 s) turns all but the
# first thousand or so away with a bare 403, so the wait is set long enough for a burst to
# drain, and the page retries a failed connect after a jittered pause.
LINEUP_WEBSOCKET_CONNECT_TIMEOUT = int(os.environ.get("LINEUP_WEBSOCKET_CONNECT_TIMEOUT", "60"))
# Gradio's max_threads: the size of the thread pool that runs the web process's
# synchronous work (queue calls, input decoding) for websocket consumers.
LINEUP_MAX_THREADS = int(os.environ.get("LINEUP_MAX_THREADS", "40"))
# How long a finished job's outcome is kept for a visitor who comes back.
LINEUP_RESULT_TTL_SECONDS = int(os.environ.get("LINEUP_RESULT_TTL_SECONDS", "3600"))
# How long a worker holds a concurrency slot without renewing it. A worker renews its slot
# every third of this while a batch runs; a worker that dies loses its slot after this long,
# and its jobs go back to the front of the line.
LINEUP_SLOT_LEASE_SECONDS = float(os.environ.get("LINEUP_SLOT_LEASE_SECONDS", "15"))
# How long a worker that emptied a line keeps its slot and waits for the next job, in seconds.
# Joins then reach it at once, without a Celery wake-up; other demos of its pool wait at most
# this long for its thread.
LINEUP_WORKER_LINGER_SECONDS = float(os.environ.get("LINEUP_WORKER_LINGER_SECONDS", "0.5"))
# How many times a job may be started before a dying worker makes it fail for good.
LINEUP_MAX_ATTEMPTS = int(os.environ.get("LINEUP_MAX_ATTEMPTS", "3"))
# How long a visitor whose connection closed keeps their place in line.
LINEUP_RECONNECT_GRACE_SECONDS = float(os.environ.get("LINEUP_RECONNECT_GRACE_SECONDS", "30"))
# How often each worker process announces itself to its pools; it counts as gone after
# three missed announcements.
LINEUP_WORKER_HEARTBEAT_SECONDS = float(os.environ.get("LINEUP_WORKER_HEARTBEAT_SECONDS", "5"))
# How often each worker process sweeps every demo's line (dead workers, timeouts, departures).
LINEUP_SWEEP_SECONDS = float(os.environ.get("LINEUP_SWEEP_SECONDS", "1"))
# Python modules to import for their @register'ed functions, besides entry points.
LINEUP_FUNCTION_MODULES = env_list("LINEUP_FUNCTION_MODULES")
# Largest upload accepted for an image input, in bytes and in pixels.
LINEUP_MAX_IMAGE_BYTES = int(os.environ.get("LINEUP_MAX_IMAGE_BYTES", str(5 * 1024 * 1024)))
LINEUP_MAX_IMAGE_PIXELS = int(os.environ.get("LINEUP_MAX_IMAGE_PIXELS", str(4096 * 4096)))
LINEUP_MAX_TEXT_LENGTH = int(os.environ.get("LINEUP_MAX_TEXT_LENGTH", "10000"))
# Largest file of any other kind (File), uploaded through a demo's upload route.
LINEUP_MAX_FILE_BYTES = int(os.environ.get("LINEUP_MAX_FILE_BYTES", str(50 * 1024 * 1024)))
# The longest sound and video inputs, in seconds (each is decoded before its job joins).
LINEUP_MAX_AUDIO_SECONDS = float(os.environ.get("LINEUP_MAX_AUDIO_SECONDS", "600"))
LINEUP_MAX_VIDEO_SECONDS = float(os.environ.get("LINEUP_MAX_VIDEO_SECONDS", "600"))
# A conversation sent with a chat message: messages, and characters in all.
LINEUP_MAX_CHAT_MESSAGES = int(os.environ.get("LINEUP_MAX_CHAT_MESSAGES", "200"))
LINEUP_MAX_CHAT_CHARACTERS = int(os.environ.get("LINEUP_MAX_CHAT_CHARACTERS", "100000"))
# A table input: rows, and cells in all.
LINEUP_MAX_TABLE_ROWS = int(os.environ.get("LINEUP_MAX_TABLE_ROWS", "10000"))
LINEUP_MAX_TABLE_CELLS = int(os.environ.get("LINEUP_MAX_TABLE_CELLS", "200000"))
# Limits on one visitor in a demo's line, besides the demo's own jobs-per-visitor setting:
# jobs waiting or running from one network address, and joins a minute (admitted or not)
# per visitor and per address. 0 turns a limit off.
LINEUP_MAX_JOBS_PER_ADDRESS = int(os.environ.get("LINEUP_MAX_JOBS_PER_ADDRESS", "20"))
LINEUP_JOINS_PER_MINUTE_PER_VISITOR = int(
    os.environ.get("LINEUP_JOINS_PER_MINUTE_PER_VISITOR", "60")
)
LINEUP_JOINS_PER_MINUTE_PER_ADDRESS = int(
    os.environ.get("LINEUP_JOINS_PER_MINUTE_PER_ADDRESS", "600")
)
# HTTP API requests of any kind a minute from one address.
LINEUP_API_REQUESTS_PER_MINUTE_PER_ADDRESS = int(
    os.environ.get("LINEUP_API_REQUESTS_PER_MINUTE_PER_ADDRESS", "1200")
)
# The largest websocket message or HTTP request body, in bytes: by default room for two
# images of the largest size, base64-encoded. daphne's own limit is set a little above it,
# so a larger message is refused with a clear error before daphne would drop the socket.
LINEUP_MAX_REQUEST_BYTES = int(
    os.environ.get("LINEUP_MAX_REQUEST_BYTES", str(2 * (LINEUP_MAX_IMAGE_BYTES * 4 // 3) + 65536))
)
DATA_UPLOAD_MAX_MEMORY_SIZE = LINEUP_MAX_REQUEST_BYTES
# How long the websocket token a demo page hands out is good for, in seconds.
LINEUP_SOCKET_TOKEN_SECONDS = int(os.environ.get("LINEUP_SOCKET_TOKEN_SECONDS", "3600"))
# When set, /metrics answers only requests with `Authorization: Bearer <this token>`.
LINEUP_METRICS_TOKEN = os.environ.get("LINEUP_METRICS_TOKEN", "")
# The longest a synchronous `predict` call waits for its result, in seconds.
LINEUP_PREDICT_MAX_WAIT_SECONDS = float(os.environ.get("LINEUP_PREDICT_MAX_WAIT_SECONDS", "60"))

# LOG_FORMAT=json: one JSON object per line, with the job ids and demo of each record.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "demo_site.logs.JSONFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if os.environ.get("LOG_FORMAT") == "json" else "plain",
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"daphne": {"level": "WARNING"}, "django.channels.server": {"level": "WARNING"}},
}

if env_bool("LINEUP_PRODUCTION"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
