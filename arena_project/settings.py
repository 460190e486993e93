"""Arena settings, read from the environment (see README's configuration table).

The defaults give the embedded setup: an SQLite file in the project, the ORM task broker, the
bundled market data, the simulated paper broker and the deterministic `rules` provider.
Provider keys (OPENAI_API_KEY, ANTHROPIC_API_KEY, ALPACA_*) are never read here: the code that
needs one reads it from the environment at call time, so it never sits in settings or the database.
"""

from __future__ import annotations

import os
import secrets
from decimal import Decimal
from pathlib import Path
from typing import Any

import environ

from arena_project.pgtuning import psycopg_statement_cache_widen

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)


def _development_secret_key() -> str:
    """A key generated once per checkout (var/dev_secret_key, git-ignored) for DEBUG only.

    Every process of a checkout (web server, qcluster workers, commands) must share the key: django-q2
    signs tasks with it, so per-process keys would make workers reject every task.
    """
    path = BASE_DIR / "var" / "dev_secret_key"
    path.parent.mkdir(exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write("dev-" + secrets.token_urlsafe(48))
    return path.read_text().strip()


SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise environ.ImproperlyConfigured("Set SECRET_KEY (or DEBUG=1 for a generated development key).")
    SECRET_KEY = _development_secret_key()

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "agents",
    "debates",
    "outcomes",
    "competition",
    "arena_project.hub",
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

ROOT_URLCONF = "arena_project.urls"

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

WSGI_APPLICATION = "arena_project.wsgi.application"


def _database() -> dict[str, Any]:
    """DATABASE_URL, or the embedded SQLite file tuned for a web process and a worker at once.

    WAL lets readers run beside the one writer; IMMEDIATE transactions take the write lock at BEGIN,
    so two writers queue on the busy timeout instead of failing mid-transaction with
    "database is locked" (a deferred transaction cannot wait once it holds a read snapshot).
    """
    config: dict[str, Any] = env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
    if config["ENGINE"] == "django.db.backends.sqlite3":
        config["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;",
        }
    elif config["ENGINE"] == "django.db.backends.postgresql":
        config.setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
        config.setdefault("CONN_HEALTH_CHECKS", True)
        # Server-side binding sends parameters apart from the SQL: psycopg then does not have to quote
        # and escape every value in Python, which dominated the cost of writing a debate's JSON.
        config.setdefault("OPTIONS", {}).setdefault("server_side_binding", True)
        psycopg_statement_cache_widen()  # our multi-row statements are long; see arena_project/pgtuning.py
    return config


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "arena_project" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG

LOGIN_URL = "/admin/login/"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an anonymous request then gets 401 with a WWW-Authenticate challenge, not 403.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "arena_project.pagination.ArenaPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "arena_project.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Arena API",
    "DESCRIPTION": "Debates between LLM analyst agents, their consensus, costs and outcomes.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "LlmCallStatusEnum": "debates.models.LlmCallStatus",
        "DebateStatusEnum": "debates.models.DebateStatus",
    },
}

# django-q2. Delivery is at-least-once: a task whose worker dies is handed out again after `retry`
# seconds, so every task claims its work and is safe to run twice. timeout < retry keeps a slow
# task from being redelivered while it still runs; max_attempts stops endless redelivery.
REDIS_URL = env.str("REDIS_URL", default="")
Q_CLUSTER: dict[str, Any] = {
    "name": "arena",
    "workers": env.int("ARENA_Q_WORKERS", default=2),
    "timeout": env.int("ARENA_Q_TIMEOUT", default=300),
    "retry": env.int("ARENA_Q_RETRY", default=360),
    "max_attempts": env.int("ARENA_Q_MAX_ATTEMPTS", default=3),
    "save_limit": 1000,
    "catch_up": False,
    "poll": 0.2,
    "sync": env.bool("ARENA_Q_SYNC", default=False),
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# Arena itself.
ARENA_MARKET_DATA_SOURCE = env.str("ARENA_MARKET_DATA_SOURCE", default="embedded")
ARENA_PAPER_STARTING_CASH = Decimal(env.str("ARENA_PAPER_STARTING_CASH", default="100000"))
ARENA_DEBATE_LOOKBACK_BARS = env.int("ARENA_DEBATE_LOOKBACK_BARS", default=260)
# Symbols whose bar histories a process keeps between debates (debates/market/history.py); 0: none.
ARENA_BAR_HISTORY_SYMBOLS = env.int("ARENA_BAR_HISTORY_SYMBOLS", default=32)
ARENA_DEBATE_LEASE_SECONDS = env.int("ARENA_DEBATE_LEASE_SECONDS", default=300)
ARENA_LIVE_TRADING = env.bool("ARENA_LIVE_TRADING", default=False)
# Outcomes (docs/outcomes.md): order submission lease, Alpaca HTTP timeout and retry wait, URL
# overrides (proxies, the local fake in tests), data feed and price adjustment. Keys stay in the env.
ARENA_ORDER_LEASE_SECONDS = env.int("ARENA_ORDER_LEASE_SECONDS", default=120)
ARENA_ORDER_MAX_ATTEMPTS = env.int("ARENA_ORDER_MAX_ATTEMPTS", default=5)
ARENA_ALPACA_TIMEOUT_S = env.float("ARENA_ALPACA_TIMEOUT_S", default=10.0)
ARENA_ALPACA_RETRY_WAIT_S = env.float("ARENA_ALPACA_RETRY_WAIT_S", default=3.0)
ARENA_ALPACA_TRADING_URL = env.str("ALPACA_TRADING_URL", default="")
ARENA_ALPACA_DATA_URL = env.str("ALPACA_DATA_URL", default="")
ARENA_ALPACA_DATA_FEED = env.str("ALPACA_DATA_FEED", default="iex")
ARENA_ALPACA_DATA_ADJUSTMENT = env.str("ALPACA_DATA_ADJUSTMENT", default="raw")

# LLM gateway (docs/gateway.md). Keys are read from the environment at call time, never here.
ARENA_PROMPT_VERSION = env.str("ARENA_PROMPT_VERSION", default="v1")
ARENA_LLM_TIMEOUT_S = env.float("ARENA_LLM_TIMEOUT_S", default=30.0)
ARENA_LLM_MAX_TOKENS = env.int("ARENA_LLM_MAX_TOKENS", default=2048)
ARENA_LLM_MAX_RETRIES = env.int("ARENA_LLM_MAX_RETRIES", default=2)
ARENA_LLM_BACKOFF_BASE_S = env.float("ARENA_LLM_BACKOFF_BASE_S", default=0.5)
ARENA_LLM_BACKOFF_MAX_S = env.float("ARENA_LLM_BACKOFF_MAX_S", default=8.0)
ARENA_LLM_RETRY_AFTER_MAX_S = env.float("ARENA_LLM_RETRY_AFTER_MAX_S", default=30.0)
ARENA_BUDGET_HOLD_TTL_S = env.int("ARENA_BUDGET_HOLD_TTL_S", default=900)

# Competition and leaderboard (docs/competition.md).
ARENA_COMPETITION_DEFAULT_BUDGET_USD = env.str("ARENA_COMPETITION_DEFAULT_BUDGET_USD", default="5.00")
ARENA_COMPETITION_ESTIMATE_INPUT_TOKENS = env.int("ARENA_COMPETITION_ESTIMATE_INPUT_TOKENS", default=6000)
ARENA_COMPETITION_SLICE_SECONDS = env.int("ARENA_COMPETITION_SLICE_SECONDS", default=120)
ARENA_COMPETITION_LEASE_SECONDS = env.int("ARENA_COMPETITION_LEASE_SECONDS", default=600)
ARENA_LEADERBOARD_REFRESH_MINUTES = env.int("ARENA_LEADERBOARD_REFRESH_MINUTES", default=5)
ARENA_LEADERBOARD_CACHE_SECONDS = env.int("ARENA_LEADERBOARD_CACHE_SECONDS", default=30)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "httpx": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
        "django_q": {"level": "WARNING"},
    },
}
