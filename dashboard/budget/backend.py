"""The process's backend of the shared budget: Redis when `REDIS_URL` is set, else files
under `PACING_DIR`."""

import threading
from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver

from dashboard.budget.base import Backend
from dashboard.budget.config import config
from dashboard.budget.files import LocalBackend
from dashboard.budget.redis import RedisBackend

_backend: Backend | None = None
_backend_lock = threading.Lock()


def backend() -> Backend:
    """The process's backend: Redis when `REDIS_URL` is set, else files under `PACING_DIR`."""
    global _backend
    with _backend_lock:
        if _backend is None:
            conf = config()
            _backend = (
                RedisBackend(conf.redis_url) if conf.redis_url else LocalBackend(conf.pacing_dir)
            )
        return _backend


def reset_backend() -> None:
    global _backend
    with _backend_lock:
        _backend = None


@receiver(setting_changed)
def _settings_changed(setting: str, **kwargs: Any) -> None:
    # Tests that override these settings get a backend that follows them.
    if setting in {"REDIS_URL", "PACING_DIR", "BASE_DIR"}:
        reset_backend()
