"""Holders of connector claims: which process runs an organisation's exchange.

A connector run claims its organisation's ConnectorSettings row until
`lease_until` and records its host name, process id and start time there.
A run on the same host may take over the claim of a process that no longer
exists. A holder on another host cannot be checked from here, so its claim
lasts until `lease_until`.
"""

import os
import socket
from dataclasses import dataclass
from datetime import datetime

from vanban.models import ConnectorSettings

MAX_HOST_LENGTH = 255


def this_host() -> str:
    """Return this machine's host name, as a claim records it."""
    return socket.gethostname()[:MAX_HOST_LENGTH]


def holder_gone(host: str | None, pid: int | None) -> bool:
    """Tell whether a claim's holder is a process of this host that no longer runs.

    NOTE: a new process that got the dead one's id counts as the holder, so
    its claim then lasts until it expires. Containers that share a host name
    but not their process ids would take each other's claims.
    """
    if host != this_host() or pid is None or pid <= 0:
        return False
    try:
        # Signal 0 checks that the process exists and sends nothing.
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        # The process exists but belongs to another user.
        return False
    return False


@dataclass(frozen=True)
class Claim:
    """A connector run's claim as the exchange pages show it."""

    started_at: datetime | None
    until: datetime
    host: str | None
    pid: int | None
    # The holder is a process of this host that no longer runs, so the next
    # run takes the claim over.
    stale: bool


def current_claim(settings: ConnectorSettings, at: datetime) -> Claim | None:
    """Return the claim on the settings that is in force at `at`, or None."""
    if settings.lease_until is None or settings.lease_until <= at:
        return None
    return Claim(
        started_at=settings.lease_started_at,
        until=settings.lease_until,
        host=settings.lease_host,
        pid=settings.lease_pid,
        stale=holder_gone(settings.lease_host, settings.lease_pid),
    )
