"""Every setting the shared budget reads, with its default: read here and nowhere else."""

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings


@dataclass(frozen=True)
class Config:
    redis_url: str
    pacing_dir: Path
    rate_limit: int
    rate_window: float
    rate_margin: float
    wait_timeout: float
    background_limit: int
    background_wait: float
    waiters: int


def config() -> Config:
    # Read before every store call: no path is resolved on the disk unless the settings lack it.
    base_dir = getattr(settings, "BASE_DIR", None) or Path(__file__).resolve().parents[2]
    return Config(
        redis_url=getattr(settings, "REDIS_URL", ""),
        pacing_dir=Path(getattr(settings, "PACING_DIR", None) or Path(base_dir) / "var" / "pacing"),
        rate_limit=int(getattr(settings, "STORE_RATE_LIMIT", 4)),
        rate_window=float(getattr(settings, "STORE_RATE_WINDOW", 1.0)),
        rate_margin=float(getattr(settings, "STORE_RATE_MARGIN", 0.1)),
        wait_timeout=float(getattr(settings, "STORE_WAIT_TIMEOUT", 20.0)),
        background_limit=int(getattr(settings, "STORE_BACKGROUND_LIMIT", 3)),
        background_wait=float(getattr(settings, "STORE_BACKGROUND_WAIT", 10.0)),
        waiters=int(getattr(settings, "STORE_WAITERS", 4)),
    )
