import time

from django.core.cache.backends.filebased import FileBasedCache


class FileCache(FileBasedCache):
    """Django's file cache lists its whole directory on every write to decide whether to cull,
    which grows with the cache; here that check runs at most once a minute per process."""

    cull_every = 60.0
    _next_cull = 0.0

    def _cull(self) -> None:
        now = time.monotonic()
        if now < self._next_cull:
            return
        self._next_cull = now + self.cull_every
        super()._cull()  # type: ignore[misc]  # Django's, not in its stubs
