"""Connecting to a Dask scheduler from the command line: the address checked, then probed.

A wrong ``--scheduler`` must end in one sentence, soon: an address that is not one (a bad
port, ``inproc://``, ``tls://`` without certificates), nothing listening, something that
accepts connections and never answers, or answers bytes that are not Dask's protocol.
:func:`connect_scheduler` refuses each with a ``ValueError`` saying what to check, within
about twice its timeout, before ``distributed.Client`` is trusted with the address.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["DEFAULT_CONNECT_TIMEOUT", "connect_scheduler", "first_line"]

#: Seconds to wait for a scheduler: for the probe, and again for the client's connection.
DEFAULT_CONNECT_TIMEOUT: Final = 10.0
# The kinds of address a command line run can reach (inproc:// lives inside one process).
_SCHEMES: Final = ("tcp", "tls", "ws", "wss", "ucx")


@contextlib.contextmanager
def connect_scheduler(address: str, timeout: float = DEFAULT_CONNECT_TIMEOUT) -> Iterator[Client]:
    """A client of the Dask scheduler at `address`, checked first: closed after.

    The address is checked before any connection (its kind, host and port), then probed:
    a connection (`timeout` seconds), Dask's handshake and an ``identity`` request (1.5 x
    `timeout` + 0.5 s in all). Only then does ``distributed.Client`` connect (again within
    `timeout`). So a wrong address ends in one sentence within 2.5 x `timeout` + 0.5 s
    (25.5 s by default), never a traceback
    or a wait without end.

    Parameters
    ----------
    address : str
        ``tcp://HOST:PORT`` (or ``HOST:PORT``), ``tls://``, ``ws://``, ``wss://`` or
        ``ucx://``. ``tls://`` and ``wss://`` take their certificates from Dask's
        configuration (``distributed.comm.tls.*``).
    timeout : float
        Seconds for the probe, and again for the client's connection.

    Yields
    ------
    distributed.Client

    Raises
    ------
    ValueError
        If the address is malformed, nothing answers there within `timeout`, or what
        answers is not a Dask scheduler; the message says which and what to check.
    """
    from distributed import Client

    text, scheme, security = _checked_address(address)
    _probe_scheduler(text, scheme, security, timeout)
    try:
        client = Client(text, timeout=timeout, security=security)
    except Exception as e:  # what answered the probe then failed: one sentence, no dump
        raise ValueError(
            f"Could not connect to the Dask scheduler at {address} "
            f"({type(e).__name__}: {first_line(e)}). Check that 'dask scheduler' runs there."
        ) from None
    with client:
        yield client


def first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else "no detail"


def _checked_address(address: str) -> tuple[str, str, Any]:
    """``(address with its scheme, scheme, distributed Security)``; refuses what cannot
    work before connecting."""
    from distributed.security import Security

    text = address.strip()
    if "://" not in text:
        text = f"tcp://{text}"
    scheme, _, location = text.partition("://")
    scheme = scheme.lower()
    if scheme == "inproc":
        raise ValueError(
            f"--scheduler {address}: an inproc:// address only reaches a scheduler inside the "
            "same Python process, never from a command. Give tcp://HOST:8786."
        )
    if scheme not in _SCHEMES:
        raise ValueError(
            f"--scheduler {address}: '{scheme}://' is not a kind of Dask address; use "
            "tcp://HOST:8786 (or tls://, ws://, wss://, ucx://)."
        )
    host, port = _host_port(location, address)
    if not location.rstrip("/").endswith(f":{port}"):
        location = f"{location.rstrip('/')}:{port}"
    text = f"{scheme}://{location}"
    if scheme == "ucx":
        return text, scheme, None
    security = Security()
    certified = getattr(security, "tls_client_cert", None) and getattr(
        security, "tls_ca_file", None
    )
    if scheme in ("tls", "wss") and not certified:
        raise ValueError(
            f"--scheduler {address}: {scheme}:// needs certificates, and Dask's configuration "
            "names none. Set DASK_DISTRIBUTED__COMM__TLS__CA_FILE, "
            "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT and ..._CLIENT__KEY (or "
            "distributed.comm.tls in ~/.config/dask), or use tcp://."
        )
    import socket

    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as e:
        reason = getattr(e, "strerror", None) or str(e)
        raise ValueError(
            f"--scheduler {address}: the host name '{host}' does not resolve ({reason}). "
            "Check the spelling, or give the scheduler's IP address."
        ) from None
    return text, scheme, security


def _host_port(location: str, address: str) -> tuple[str, int]:
    """Host and port of ``HOST:PORT`` (``[IPv6]:PORT``; no port: 8786, the scheduler's
    default); the port must be 1 to 65535."""
    if location.startswith("["):
        host, _, tail = location[1:].partition("]")
        port_text = tail[1:] if tail.startswith(":") else None
    else:
        host, sep, port_text_ = location.rpartition(":")
        port_text = port_text_ if sep else None
        if not sep:
            host = location
    host = host.rstrip("/")
    port_text = None if port_text is None else port_text.rstrip("/")
    if not host:
        raise ValueError(
            f"--scheduler {address}: give a host and a port, e.g. tcp://head:8786 "
            "('dask scheduler' prints its address when it starts)."
        )
    if port_text is None:
        port_text = "8786"  # dask scheduler's default
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(
            f"--scheduler {address}: '{port_text}' is not a port (a whole number from 1 to "
            "65535; 'dask scheduler' listens on 8786 by default)."
        )
    return host, int(port_text)


def _probe_scheduler(address: str, scheme: str, security: Any, timeout: float) -> None:
    """Connect, shake hands and ask ``identity``, within 1.5 x `timeout` + 0.5 s; raise
    saying what went wrong (nothing listens, no answer, not Dask, not a scheduler)."""
    import asyncio

    from distributed.comm import connect

    async def probe() -> Any:
        args = {} if security is None else security.get_connection_args("client")
        comm = await connect(address, timeout=timeout, **args)
        try:
            await comm.write({"op": "identity", "reply": True})
            return await comm.read()
        finally:
            comm.abort()

    async def bounded() -> Any:
        # distributed's connect retries a refused connection for `timeout` itself (then says
        # so); the handshake and the reply, which it does not bound, get the rest.
        return await asyncio.wait_for(probe(), limit)

    limit = 1.5 * timeout + 0.5

    try:
        with warnings.catch_warnings(), _quiet_distributed():
            warnings.simplefilter("ignore")
            reply = asyncio.run(bounded())
    except TimeoutError:
        raise ValueError(
            f"The Dask scheduler at {address} did not answer within {limit:g} s: something "
            "accepts connections there but does not speak Dask. "
            "Check the address and port ('dask scheduler' prints it), or raise "
            "--connect-timeout."
        ) from None
    except OSError as e:
        raise ValueError(
            f"Could not connect to the Dask scheduler at {address} ({first_line(e)}). "
            "Check the address (tcp://HOST:8786) and that 'dask scheduler' is running."
        ) from None
    except Exception as e:  # garbage bytes: MemoryError, msgpack errors, ...
        raise ValueError(
            f"What answers at {address} is not a Dask scheduler: its reply is not Dask's "
            f"protocol ({type(e).__name__}). Check the address and port ('dask scheduler' "
            "listens on 8786 by default)."
        ) from None
    kind = reply.get("type") if isinstance(reply, dict) else None
    if kind != "Scheduler":
        what = f"a Dask {kind}" if isinstance(kind, str) else "not a Dask scheduler"
        raise ValueError(
            f"What answers at {address} is {what}, not a scheduler. Give the address the "
            "scheduler prints when it starts (tcp://HOST:8786)."
        )


@contextlib.contextmanager
def _quiet_distributed() -> Iterator[None]:
    """distributed's logging off while probing: a failed probe is reported in one line."""
    import logging

    logger = logging.getLogger("distributed")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)
