"""One TLS trust for every client connection (app/tls.py), against the real hub served over
TLS on loopback with a throw-away hospital CA: with the policy's ``ca_bundle`` sync HTTP, the
call signaling WebSocket and the sync-hint socket connect; without it (even with the CA in
``REQUESTS_CA_BUNDLE``) each is refused for the untrusted certificate."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.context import AppContext
from app.sync.errors import TlsUntrusted
from app.sync.hints import HintListener
from app.sync.hub_client import HubClient
from tests.packaging.tls_hub import TlsFiles, make_tls_files
from tests.support.hub_launcher import HubLauncher


@pytest.fixture(scope="module")
def tls_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, TlsFiles]]:
    folder = tmp_path_factory.mktemp("tls-hub")
    files = make_tls_files(folder / "pki")
    hub = HubLauncher(
        folder / "hub",
        "--seed-demo",
        log_level="warning",
        tls_cert=files.server_cert,
        tls_key=files.server_key,
        ca_cert=files.ca_cert,
    ).start()
    yield hub.url, files
    hub.stop()


def _service(qtbot, url: str, client: HubClient):  # noqa: ANN001, ANN202
    """The desktop's call service as sign-in leaves it: its signaling trusts what the
    signed-in ``client`` trusts (built from the policy's ``ca_bundle``)."""
    from app.config import load_settings
    from app.ui.call.service import CallService

    settings = load_settings(registry={})
    context = AppContext(
        settings=settings, hub_url=url, user=client.tokens.user, services={"hub_client": client}
    )
    service = CallService(context)
    service.start()
    qtbot.waitUntil(lambda: service.signaling is not None, timeout=10_000)
    return service


def test_with_the_hospital_ca_sync_and_signaling_connect(qtbot, tls_hub) -> None:  # noqa: ANN001
    from hub.demo import DEMO_PASSWORD

    url, files = tls_hub
    client = HubClient(url, ca_bundle=str(files.ca_cert))
    client.login("doctor", DEMO_PASSWORD)
    assert client.authed("GET", "/api/v1/me").status_code == 200
    service = _service(qtbot, url, client)
    try:
        qtbot.waitUntil(lambda: service.online, timeout=20_000)
        assert service.signaling.url.startswith("wss://")
    finally:
        service.stop()
    hints = HintListener(url, lambda: client.tokens.access_token, None, client.ssl_context)
    hints.start()
    try:
        assert hints.connected.wait(20), "the sync-hint socket did not connect over TLS"
    finally:
        hints.stop()


def test_without_the_ca_every_connection_is_refused(
    qtbot,
    tls_hub,
    monkeypatch,
    tmp_path: Path,  # noqa: ANN001
) -> None:
    from hub.demo import DEMO_PASSWORD

    url, files = tls_hub
    # The environment no longer widens whom we trust (requests used to prefer it).
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(files.ca_cert))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(files.ca_cert))
    untrusting = HubClient(url)
    with pytest.raises(TlsUntrusted):
        untrusting.login("doctor", DEMO_PASSWORD)
    with pytest.raises(TlsUntrusted):
        untrusting.request("GET", "/readyz", verify=False)  # verification cannot be turned off

    # Valid tokens, but the signaling socket must not trust the hub either.
    trusted = HubClient(url, ca_bundle=str(files.ca_cert))
    trusted.login("doctor", DEMO_PASSWORD)
    untrusting.tokens = trusted.tokens
    service = _service(qtbot, url, untrusting)
    try:
        qtbot.waitUntil(
            lambda: "CERTIFICATE_VERIFY_FAILED" in service.signaling.last_error, timeout=20_000
        )
        assert not service.online
    finally:
        service.stop()

    # A CA file that is not one names itself.
    bogus = tmp_path / "not-a-ca.pem"
    bogus.write_text("hello", "utf-8")
    with pytest.raises(TlsUntrusted, match="not-a-ca.pem"):
        HubClient(url, ca_bundle=str(bogus))
