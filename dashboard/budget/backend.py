"""The process's backend of the shared budget: Redis when `REDIS_URL` is set, else files
under `PACING_DIR`."""

import threading

from django.core.signals import setting_changed
from django.dispatch import receiver

from dashboard.budget.config import config
from dashboard.budget.files import LocalBackend
from dashboard.budget.redis import RedisBackend

_backend = None
_backend_lock = threading.Lock()


def backend():
    """The process's backend: Redis when `REDIS_URL` is set, else files under `PACING_DIR`."""
    global _backend
    with _backend_lock:
        if _backend is None:
            conf = config()
            _backend = (
                RedisBackend(conf.redis_url) if conf.redis_url else LocalBackend(conf.pacing_dir)
            )
        return _backend


def reset_backend():
    global _backend
    with _backend_lock:
        _backend = None


@receiver(setting_changed)
def _settings_changed(setting, **kwargs):
    # Tests that override these settings get a backend that follows them.
    if setting in {"REDIS_URL", "PACING_DIR", "BASE_DIR"}:
        reset_backend()
