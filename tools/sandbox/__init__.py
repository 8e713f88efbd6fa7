"""A sandbox Next Commerce store over real HTTP, as strict as the published spec: the Admin
API's ticket, user and product reads, ticket writes, and webhooks that every ticket change is
pushed to, signed.

Standard library only, so it starts in a blink and runs without Django. Start it with
`python -m tools.sandbox` or, in tests, `SandboxServer(port=0).start()`.
"""

from .data import SandboxData
from .server import FAULT_MODES, SandboxServer

__all__ = ["FAULT_MODES", "SandboxData", "SandboxServer"]
