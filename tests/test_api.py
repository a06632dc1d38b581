"""``raynn.api``: the address probe that runs before Ray, and the local Ray instance ``ensure_ray`` starts.

Unreachable addresses are 127.0.0.1 with a closed port only.
"""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request

import pytest

from raynn.api import ADDRESS_RULE, check_address
from raynn.errors import ConfigError


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_address_where_something_listens_passes_and_local_means_start_one() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert check_address(f"127.0.0.1:{port}") == f"127.0.0.1:{port}"
        assert check_address(f"ray://127.0.0.1:{port}") == f"ray://127.0.0.1:{port}"
    assert check_address(None) is None
    assert check_address("local") == "local"


@pytest.mark.parametrize("address", ["nonsense", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", ":6379",
                                     "http://127.0.0.1:8265", "127.0.0.1:6379/x", "host name:1", 6379])
def test_a_malformed_address_states_the_forms_it_may_take(address: object) -> None:
    with pytest.raises(ConfigError) as info:
        check_address(address)
    assert str(info.value) == f"--address: {ADDRESS_RULE}, got {address!r}"


def test_a_closed_port_or_a_name_that_does_not_resolve_is_one_error_in_seconds() -> None:
    closed = f"127.0.0.1:{_closed_port()}"
    for address, rule in ((closed, ("must be the address of a running Ray cluster: nothing accepts connections "
                                    f"at {closed} (Connection refused)")),
                          (f"ray://{closed}", "must be the address of a running Ray cluster"),
                          ("nonsense.invalid:6379", "must name a host that resolves")):
        start = time.monotonic()
        with pytest.raises(ConfigError, match="^--address: " + rule.replace("(", r"\(").replace(")", r"\)")):
            check_address(address)
        assert time.monotonic() - start < 15  # Ray's own client retries for minutes


@pytest.mark.ray
def test_the_local_ray_keeps_token_auth_on_and_its_dashboard_on_loopback(ray_session: None) -> None:
    """What ``ensure_ray`` (every raynn command without --address) starts: token authentication on, the
    dashboard and job API listening on 127.0.0.1 only, and refusing a request without the token."""
    import psutil
    from ray._private.authentication.authentication_utils import is_token_auth_enabled
    from ray._private.worker import get_dashboard_url

    assert is_token_auth_enabled()
    host, _, port = get_dashboard_url().rpartition(":")
    assert host == "127.0.0.1", get_dashboard_url()
    listening = {c.laddr.ip for c in psutil.net_connections(kind="tcp")
                 if c.status == psutil.CONN_LISTEN and c.laddr.port == int(port)}
    assert listening == {"127.0.0.1"}, listening
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/api/jobs/", timeout=30)
    assert info.value.code in (401, 403)
