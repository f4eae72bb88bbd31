"""`YiQiao --self-check`: can this install do its job? A report IT can read and send us.

Each check returns ``Check`` results with one of four states: PASS, WARN (works but worth a
look, e.g. no camera on a reading-room PC), SKIP (not applicable here, e.g. no hub
configured) and FAIL. A check whose component is missing from this build FAILS and says so:
nothing here passes without having done the real work (decode the sample, open the database,
reach the hub). The exit code is 1 when anything failed, else 0.

The report is printed to stdout when there is one (a windowed Windows exe has none) and always
written to ``<log dir>/self-check.log``, which "Export diagnostics" collects with the logs.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from app import __version__, paths

PASS, WARN, SKIP, FAIL = "PASS", "WARN", "SKIP", "FAIL"
REPORT_FILE_NAME = "self-check.log"


def translate(context: str, text: str) -> str:
    """``text`` in the report's language (``main`` installs the translators; ``--lang``)."""
    try:
        from PySide6.QtCore import QCoreApplication
    except ImportError:  # a broken build still reports, in English
        return text
    return QCoreApplication.translate(context, text)


def _labels() -> dict[str, str]:
    """Group and check names as shown (the results keep the English ones as keys)."""
    return {
        PASS: translate("SelfCheck", "PASS"),
        WARN: translate("SelfCheck", "WARN"),
        SKIP: translate("SelfCheck", "SKIP"),
        FAIL: translate("SelfCheck", "FAIL"),
        "Build": translate("SelfCheck", "Build"),
        "System": translate("SelfCheck", "System"),
        "Policy": translate("SelfCheck", "Policy"),
        "policy file": translate("SelfCheck", "policy file"),
        "registry": translate("SelfCheck", "registry"),
        "locked keys": translate("SelfCheck", "locked keys"),
        "translations": translate("SelfCheck", "translations"),
        "DICOM decoders": translate("SelfCheck", "DICOM decoders"),
        "decoders": translate("SelfCheck", "decoders"),
        "samples": translate("SelfCheck", "samples"),
        "Devices": translate("SelfCheck", "Devices"),
        "device listing": translate("SelfCheck", "device listing"),
        "cameras": translate("SelfCheck", "cameras"),
        "microphones": translate("SelfCheck", "microphones"),
        "Media": translate("SelfCheck", "Media"),
        "codecs": translate("SelfCheck", "codecs"),
        "VP8 video": translate("SelfCheck", "VP8 video"),
        "Opus audio": translate("SelfCheck", "Opus audio"),
        "Keyring": translate("SelfCheck", "Keyring"),
        "backend": translate("SelfCheck", "backend"),
        "Encrypted cache": translate("SelfCheck", "Encrypted cache"),
        "cache": translate("SelfCheck", "cache"),
        "user caches": translate("SelfCheck", "user caches"),
        "Hub": translate("SelfCheck", "Hub"),
        "hub": translate("SelfCheck", "hub"),
        "hub client": translate("SelfCheck", "hub client"),
        "CA certificate": translate("SelfCheck", "CA certificate"),
        "TLS trust": translate("SelfCheck", "TLS trust"),
        "check": translate("SelfCheck", "check"),
    }


def _keyring_problem(exc: BaseException) -> str:
    if _language == "en":
        return str(exc)
    if "plain file" in str(exc):
        return translate(
            "SelfCheck",
            "the only credential store available writes secrets to a plain file; YiQiao refuses it",
        )
    return translate(
        "SelfCheck",
        "no secure credential store was found (Windows: Credential Manager; Linux: a "
        "running, unlocked Secret Service such as GNOME Keyring or KWallet)",
    )


def _hub_problem(exc: BaseException) -> str:
    """A hub failure: the English detail for an English report, else the worded reason."""
    if _language == "en":
        return str(exc)
    from app.ui.wording import hub_error_text

    return hub_error_text(exc)


def _setting_problem(problem: Any) -> str:
    if _language == "en":
        return str(problem.describe())
    from app.ui.setting_problems import describe

    return describe(problem)


_language = "en"


@dataclass(frozen=True)
class Check:
    """One line of the report: which group, what was checked, the state, and why."""

    group: str
    name: str
    state: str
    detail: str


# --------------------------------------------------------------------------- checks


def check_build() -> list[Check]:
    """What is running: version, frozen or source, Python, OS (always PASS; for the record)."""
    frozen = getattr(sys, "frozen", False)
    where = (
        translate("SelfCheck", "bundle at {path}").format(path=Path(sys.executable).parent)
        if frozen
        else translate("SelfCheck", "source, {path}").format(path=sys.executable)
    )
    return [
        Check(
            "Build",
            "YiQiao",
            PASS,
            translate("SelfCheck", "{version} ({where})").format(version=__version__, where=where),
        ),
        Check("Build", "Python", PASS, sys.version.split()[0]),
        Check("Build", "System", PASS, platform.platform()),
    ]


def check_policy(settings: Any) -> list[Check]:
    """The machine policy in force: where it is read from, what it locks, what was wrong."""
    from app.config import POLICY_REGISTRY_KEY

    policy_file = paths.machine_policy_file()
    checks = [
        Check(
            "Policy",
            "policy file",
            PASS,
            translate("SelfCheck", "{path} (present)").format(path=policy_file)
            if policy_file.is_file()
            else translate("SelfCheck", "{path} (absent: no file policy)").format(path=policy_file),
        )
    ]
    if sys.platform == "win32":
        checks.append(Check("Policy", "registry", PASS, "HKLM\\" + POLICY_REGISTRY_KEY))
    if settings.locked:
        for key in sorted(settings.locked):
            checks.append(
                Check(
                    "Policy",
                    key,
                    PASS,
                    translate("SelfCheck", "{value} (locked by {source})").format(
                        value=repr(settings.values[key]), source=settings.locked[key]
                    ),
                )
            )
    else:
        checks.append(
            Check(
                "Policy",
                "locked keys",
                PASS,
                translate("SelfCheck", "none: every setting is the user's"),
            )
        )
    for problem in settings.problems:
        # A wrong policy value is IT's to fix (FAIL); a broken user settings file is a warning.
        is_policy = problem.source == str(policy_file) or problem.source.startswith("HKLM")
        checks.append(
            Check("Policy", problem.key, FAIL if is_policy else WARN, _setting_problem(problem))
        )
    return checks


def check_translations() -> list[Check]:
    """The compiled Chinese UI translation is shipped and Qt can load it."""
    qm = paths.resources_dir() / "translations" / "yiqiao_zh_CN.qm"
    if not qm.is_file():
        return [
            Check(
                "Qt",
                "translations",
                FAIL,
                translate("SelfCheck", "missing {path} (run `make translations`)").format(path=qm),
            )
        ]
    try:
        from PySide6.QtCore import QTranslator, qVersion
    except ImportError as exc:
        return [
            Check(
                "Qt",
                "translations",
                FAIL,
                translate("SelfCheck", "PySide6 cannot be imported: {error}").format(error=exc),
            )
        ]
    translator = QTranslator()
    if not translator.load(str(qm)):
        return [
            Check(
                "Qt",
                "translations",
                FAIL,
                translate("SelfCheck", "Qt could not load {path}").format(path=qm),
            )
        ]
    return [
        Check(
            "Qt",
            "translations",
            PASS,
            translate("SelfCheck", "{name} loaded (Qt {version})").format(
                name=qm.name, version=qVersion()
            ),
        )
    ]


def check_decoders() -> list[Check]:
    """Decode a shipped sample of every transfer syntax (the viewer's own self-check)."""
    try:
        from app.dicom_viewer.self_check import self_check
    except ImportError as exc:
        return [
            Check(
                "DICOM decoders",
                "decoders",
                FAIL,
                translate("SelfCheck", "not available in this build: {error}").format(error=exc),
            )
        ]
    samples = paths.resources_dir() / "dicom_samples"
    if not any(samples.glob("*.dcm")):
        return [
            Check(
                "DICOM decoders",
                "samples",
                FAIL,
                translate("SelfCheck", "no DICOM samples shipped in {path}").format(path=samples),
            )
        ]
    checks = []
    for name, ok, msg in self_check(samples):
        if ok and msg.startswith("no shipped sample"):
            # Only a decode proves a decoder works; a present plugin is worth a look, not a PASS.
            checks.append(
                Check(
                    "DICOM decoders",
                    name,
                    WARN,
                    translate("SelfCheck", "not exercised: {detail}").format(detail=msg),
                )
            )
        else:
            checks.append(Check("DICOM decoders", name, PASS if ok else FAIL, msg))
    return checks


def check_devices(settings: Any) -> list[Check]:
    """List cameras and microphones (none found is a warning: audio-only and reading rooms)."""
    try:
        from app.media.devices import list_devices
    except ImportError as exc:
        return [
            Check(
                "Devices",
                "device listing",
                FAIL,
                translate("SelfCheck", "not available in this build: {error}").format(error=exc),
            )
        ]
    try:
        found = list_devices()
    except Exception as exc:  # noqa: BLE001 - capture backends fail in many ways; report it
        return [
            Check(
                "Devices",
                "device listing",
                FAIL,
                translate("SelfCheck", "listing devices failed: {error}").format(error=exc),
            )
        ]
    checks = []
    for kind, attr, allowed_key in (
        ("cameras", "cameras", "camera_allowed"),
        ("microphones", "microphones", "microphone_allowed"),
    ):
        names = [str(getattr(d, "name", d)) for d in _devices_of(found, attr)]
        if not settings.get(allowed_key, True):
            checks.append(
                Check("Devices", kind, SKIP, translate("SelfCheck", "turned off by policy"))
            )
        elif names:
            checks.append(Check("Devices", kind, PASS, "; ".join(names)))
        else:
            checks.append(
                Check(
                    "Devices",
                    kind,
                    WARN,
                    translate("SelfCheck", "none found (calls will be audio-only or receive-only)"),
                )
            )
    return checks


def _devices_of(found: Any, attr: str) -> Iterable[Any]:
    if isinstance(found, dict):
        return found.get(attr, []) or []
    return getattr(found, attr, []) or []


def check_media_codecs() -> list[Check]:
    """Encode one video frame (VP8) and one audio frame (Opus) with aiortc's own encoders,
    which run on PyAV's bundled libvpx and libopus: missing or blocked codec DLLs show here."""
    try:
        import fractions

        import aiortc
        import av
        import numpy as np
        from aiortc.codecs import get_encoder
        from aiortc.rtcrtpparameters import RTCRtpCodecParameters
    except ImportError as exc:
        return [
            Check(
                "Media",
                "codecs",
                FAIL,
                translate("SelfCheck", "not available in this build: {error}").format(error=exc),
            )
        ]

    def video() -> int:
        encoder = get_encoder(RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000))
        frame = av.VideoFrame.from_ndarray(np.zeros((120, 160, 3), np.uint8), format="rgb24")
        frame.pts, frame.time_base = 0, fractions.Fraction(1, 90000)
        return sum(len(p) for p in encoder.encode(frame)[0])

    def audio() -> int:
        encoder = get_encoder(
            RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2)
        )
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 1920), np.int16), format="s16", layout="stereo"
        )
        frame.sample_rate, frame.pts, frame.time_base = 48000, 0, fractions.Fraction(1, 48000)
        return sum(len(p) for p in encoder.encode(frame)[0])

    checks = []
    for name, encode in (("VP8 video", video), ("Opus audio", audio)):
        try:
            size = encode()
        except Exception as exc:  # noqa: BLE001 - codec libraries fail in many ways
            checks.append(
                Check(
                    "Media",
                    name,
                    FAIL,
                    translate("SelfCheck", "encoding failed: {error}").format(
                        error=f"{type(exc).__name__}: {exc}"
                    ),
                )
            )
            continue
        state = PASS if size > 0 else FAIL
        checks.append(
            Check(
                "Media",
                name,
                state,
                translate(
                    "SelfCheck", "one frame encoded to {size} bytes (aiortc {aiortc}, PyAV {pyav})"
                ).format(size=size, aiortc=aiortc.__version__, pyav=av.__version__),
            )
        )
    return checks


def check_keyring() -> list[Check]:
    """The OS credential store YiQiao keeps its tokens and cache key in."""
    from app.credentials import KeyringUnavailable, check_keyring

    try:
        return [Check("Keyring", "backend", PASS, check_keyring())]
    except KeyringUnavailable as exc:
        return [Check("Keyring", "backend", FAIL, _keyring_problem(exc))]
    except Exception as exc:  # noqa: BLE001 - a broken backend raises its own errors
        return [
            Check(
                "Keyring",
                "backend",
                FAIL,
                translate("SelfCheck", "the keyring failed: {error}").format(error=exc),
            )
        ]


def check_sqlcipher_engine() -> list[Check]:
    """SQLCipher really encrypts: write with a key, read back, and fail to read without it."""
    try:
        import sqlcipher3
    except ImportError as exc:
        return [
            Check(
                "Encrypted cache",
                "SQLCipher",
                FAIL,
                translate("SelfCheck", "sqlcipher3 missing: {error}").format(error=exc),
            )
        ]
    key = os.urandom(32).hex()
    with tempfile.TemporaryDirectory(prefix="yiqiao-selfcheck-") as tmp:
        db = Path(tmp) / "probe.db"
        try:
            conn = sqlcipher3.connect(str(db))
            conn.execute(f"PRAGMA key = \"x'{key}'\"")
            version = conn.execute("PRAGMA cipher_version").fetchone()
            conn.execute("CREATE TABLE probe (v TEXT)")
            conn.execute("INSERT INTO probe VALUES ('ok')")
            conn.commit()
            conn.close()
            conn = sqlcipher3.connect(str(db))
            conn.execute(f"PRAGMA key = \"x'{key}'\"")
            value = conn.execute("SELECT v FROM probe").fetchone()
            conn.close()
        except Exception as exc:  # noqa: BLE001 - sqlcipher3 raises its own DatabaseError
            return [
                Check(
                    "Encrypted cache",
                    "SQLCipher",
                    FAIL,
                    translate("SelfCheck", "round trip failed: {error}").format(error=exc),
                )
            ]
        if not version or value != ("ok",):
            return [
                Check(
                    "Encrypted cache",
                    "SQLCipher",
                    FAIL,
                    translate("SelfCheck", "no cipher in this SQLite build"),
                )
            ]
        # Plain SQLite must not be able to read it: proof the file is encrypted at rest.
        plain = sqlite3.connect(str(db))
        try:
            plain.execute("SELECT * FROM sqlite_master").fetchall()
            encrypted = False
        except sqlite3.DatabaseError:
            encrypted = True
        finally:
            plain.close()
    if not encrypted:
        return [
            Check(
                "Encrypted cache",
                "SQLCipher",
                FAIL,
                translate("SelfCheck", "the probe database was readable without its key"),
            )
        ]
    return [
        Check(
            "Encrypted cache",
            "SQLCipher",
            PASS,
            translate("SelfCheck", "SQLCipher {version}: encrypted round trip").format(
                version=version[0]
            ),
        )
    ]


def check_cache() -> list[Check]:
    """The encrypted cache works here, and each existing user cache opens with its key.

    A new cache is probed in a temporary folder with a random key (app.sync.cache, so the
    bundled migrations run too). Existing caches (``profiles/<profile>/cache.db``) are opened
    with their key from the keyring and integrity-checked, without migrating or writing; a
    missing key is reported, never created.
    """
    try:
        from app.sync.cache import CacheOpenError, open_cache
    except ImportError as exc:
        return [
            Check(
                "Encrypted cache",
                "cache",
                FAIL,
                translate("SelfCheck", "not available in this build: {error}").format(error=exc),
            )
        ]
    from app.credentials import KeyringUnavailable, check_keyring

    try:
        check_keyring()
    except KeyringUnavailable as exc:
        return [
            Check(
                "Encrypted cache",
                "cache",
                FAIL,
                translate("SelfCheck", "no key can be kept: {error}").format(
                    error=_keyring_problem(exc)
                ),
            )
        ]
    with tempfile.TemporaryDirectory(prefix="yiqiao-selfcheck-") as tmp:
        try:
            cache = open_cache(Path(tmp) / "cache.db", os.urandom(32))
            version = cache.version()
            cache.close()
        except CacheOpenError as exc:
            return [
                Check(
                    "Encrypted cache",
                    "cache",
                    FAIL,
                    translate("SelfCheck", "a new cache cannot be opened: {error}").format(
                        error=exc
                    ),
                )
            ]
    checks = [
        Check(
            "Encrypted cache",
            "cache",
            PASS,
            translate("SelfCheck", "a new cache opens and migrates (schema v{version})").format(
                version=version
            ),
        )
    ]
    profiles = sorted((paths.user_data_dir() / "profiles").glob("*/cache.db"))
    if not profiles:
        checks.append(
            Check(
                "Encrypted cache",
                "user caches",
                SKIP,
                translate("SelfCheck", "none yet (nobody has signed in here)"),
            )
        )
    for db in profiles:
        checks.append(_check_existing_cache(db))
        checks.extend(_check_set_aside(db.parent))
    return checks


def _check_set_aside(folder: Path) -> list[Check]:
    """Caches set aside (keyring key lost, damage) whose unsent work still waits to be sent:
    it goes at the user's next sign-in with the password that wrapped their keys."""
    from app.sync.keywrap import wrap_path
    from app.sync.recovery import find_set_aside

    out = []
    for item in find_set_aside(folder):
        if wrap_path(item.db_path).exists():
            detail = translate(
                "SelfCheck",
                "{path}: kept; its unsent work is sent at the user's next sign-in with their "
                "password, then the file is retired",
            )
        else:
            detail = translate(
                "SelfCheck",
                "{path}: kept, but it has no password-protected copy of its key: it cannot be "
                "opened on this computer",
            )
        out.append(
            Check(
                "Encrypted cache",
                f"set-aside cache of {folder.name}",
                WARN,
                detail.format(path=item.db_path),
            )
        )
    return out


def _check_existing_cache(db: Path) -> Check:
    import sqlcipher3

    from app import credentials

    profile = db.parent.name
    name = f"cache of {profile}"
    # The key name app.sync.cache.cache_key() uses; read only, so a missing key stays missing.
    secret = credentials.get_secret(f"cache-key:{profile}")
    if not secret:
        return Check(
            "Encrypted cache",
            name,
            FAIL,
            translate(
                "SelfCheck",
                "{path}: its key is not in the keyring (the keyring was reset?); YiQiao will "
                "set the file aside at sign-in, download a fresh copy and send its unsent work "
                "with the user's password",
            ).format(path=db),
        )
    key = base64.b64decode(secret)
    conn = sqlcipher3.connect(str(db), timeout=10)
    try:
        conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
        result = conn.execute("PRAGMA quick_check").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlcipher3.DatabaseError as exc:
        return Check(
            "Encrypted cache",
            name,
            FAIL,
            translate("SelfCheck", "{path} cannot be opened with its key: {error}").format(
                path=db, error=exc
            ),
        )
    finally:
        conn.close()
    if result != "ok":
        return Check(
            "Encrypted cache",
            name,
            FAIL,
            translate("SelfCheck", "{path} is damaged: {error}").format(path=db, error=result),
        )
    size = db.stat().st_size / 1e6
    return Check(
        "Encrypted cache",
        name,
        PASS,
        translate("SelfCheck", "opens with its key, intact (schema v{version}, {size} MB)").format(
            version=version, size=f"{size:.1f}"
        ),
    )


def check_hub(settings: Any) -> list[Check]:
    """When a hub is configured: its CA file, TLS trust, /healthz and /readyz through the proxy."""
    url = settings.get("hub_url", "")
    if not url:
        return [
            Check(
                "Hub",
                "hub",
                SKIP,
                translate("SelfCheck", "no hub_url configured (the embedded demo hub is used)"),
            )
        ]
    checks: list[Check] = []
    ca_bundle = settings.get("ca_bundle", "")
    if ca_bundle:
        from app.tls import TlsConfigError, client_ssl_context

        try:
            count = len(client_ssl_context(ca_bundle).get_ca_certs())
            checks.append(
                Check(
                    "Hub",
                    "CA certificate",
                    PASS,
                    translate("SelfCheck", "{path}: {count} certificate(s)").format(
                        path=ca_bundle, count=count
                    ),
                )
            )
        except TlsConfigError as exc:
            checks.append(
                Check(
                    "Hub",
                    "CA certificate",
                    FAIL,
                    translate("SelfCheck", "{path} is not a usable PEM file: {error}").format(
                        path=ca_bundle, error=exc
                    ),
                )
            )
            return checks
    try:
        from app.sync.errors import HubError, TlsUntrusted
        from app.sync.hub_client import HubClient
    except ImportError as exc:
        return checks + [
            Check(
                "Hub",
                "hub client",
                FAIL,
                translate("SelfCheck", "not available in this build: {error}").format(error=exc),
            )
        ]
    client = HubClient(
        url, ca_bundle=ca_bundle, proxy=settings.get("proxy", "system"), timeout=10.0
    )
    trust = (
        translate("SelfCheck", "verified against {path}").format(path=ca_bundle)
        if ca_bundle
        else translate("SelfCheck", "verified against the public CAs shipped with YiQiao")
    )
    for path in ("/healthz", "/readyz"):
        started = time.monotonic()
        try:
            response = client.request("GET", path)
        except TlsUntrusted as exc:
            return checks + [Check("Hub", "TLS trust", FAIL, _hub_problem(exc))]
        except HubError as exc:
            checks.append(Check("Hub", path, FAIL, _hub_problem(exc)))
            continue
        ms = (time.monotonic() - started) * 1000
        if response.status_code == 200:
            checks.append(
                Check(
                    "Hub",
                    path,
                    PASS,
                    translate("SelfCheck", "{url}: 200 in {ms} ms").format(
                        url=url + path, ms=f"{ms:.0f}"
                    ),
                )
            )
        else:
            checks.append(
                Check(
                    "Hub",
                    path,
                    FAIL,
                    translate("SelfCheck", "{url}: HTTP {status}").format(
                        url=url + path, status=response.status_code
                    ),
                )
            )
    if url.startswith("https://") and any(
        c.state == PASS for c in checks if c.name.startswith("/")
    ):
        checks.append(Check("Hub", "TLS trust", PASS, trust))
    elif url.startswith("http://"):
        checks.append(
            Check(
                "Hub",
                "TLS trust",
                WARN,
                translate("SelfCheck", "hub_url is plain http: traffic is not encrypted"),
            )
        )
    return checks


def check_dicom_network(settings: Any) -> list[Check]:
    """Our DICOM port can be opened; the configured PACS answers C-ECHO; DICOMweb answers."""
    try:
        from app.dicom_net.nodes import NodeError, local_node, pacs_node
        from app.dicom_net.receiver import probe_port
        from app.dicom_net.scu import DimseError, echo
    except ImportError as exc:
        return [Check("DICOM network", "pynetdicom", FAIL, f"not available in this build: {exc}")]
    checks: list[Check] = []
    node = local_node(settings)
    where = f"{node.ae_title} on {node.bind_address}:{node.port}"
    problem = probe_port(node.bind_address, node.port)
    if not node.enabled:
        state, detail = SKIP, f"receiving is turned off (dicom_receive_enabled); {where}"
        detail += ": " + (problem or "the port can be opened")
    else:
        state, detail = (
            (FAIL, f"{where}: {problem}") if problem else (PASS, f"{where}: can be opened")
        )
    checks.append(Check("DICOM network", "receive port", state, detail))
    checks += _check_dicom_tls_key(settings)
    try:
        pacs = pacs_node(settings)
    except NodeError as exc:
        pacs, checks = None, checks + [Check("DICOM network", "PACS", FAIL, str(exc))]
    if pacs is None and not any(c.name == "PACS" for c in checks):
        checks.append(Check("DICOM network", "PACS C-ECHO", SKIP, "no dicom_pacs configured"))
    elif pacs is not None:
        started = time.monotonic()
        try:
            status = echo(pacs, node.ae_title)
            ms = (time.monotonic() - started) * 1000
            checks.append(
                Check("DICOM network", "PACS C-ECHO", PASS if status == 0 else FAIL,
                      f"{pacs}: status 0x{status:04X} in {ms:.0f} ms")
            )  # fmt: skip
        except DimseError as exc:
            checks.append(Check("DICOM network", "PACS C-ECHO", FAIL, str(exc)))
    url = settings.get("dicomweb_url", "")
    if url:
        from app.dicom_net.dicomweb import DicomWeb, DicomWebError
        from app.dicom_net.scu import Query
        from app.tls import TlsConfigError, trusting_session

        try:
            web = DicomWeb(url, session=trusting_session(settings.get("ca_bundle", "")), timeout=10)
            web.search_studies(Query(patient_id="YIQIAO-SELF-CHECK"), 1)
            checks.append(Check("DICOM network", "DICOMweb", PASS, f"{url}: QIDO-RS answers"))
        except (DicomWebError, TlsConfigError) as exc:
            checks.append(Check("DICOM network", "DICOMweb", FAIL, str(exc)))
    return checks


def _check_dicom_tls_key(settings: Any) -> list[Check]:
    """A configured DICOM TLS key is encrypted and the keyring's passphrase opens it."""
    from app.dicom_net.tls import (
        KeyNotEncrypted,
        TlsConfigError,
        check_encrypted_key,
        key_passphrase,
    )

    key = str(settings.get("dicom_tls_key", "") or "")
    if not key:
        return []
    cert = str(settings.get("dicom_tls_cert", "") or "")
    try:
        check_encrypted_key(cert, key, key_passphrase() or "")
    except KeyNotEncrypted:
        return [
            Check("DICOM network", "TLS private key", WARN,
                  f"{key} is not encrypted: anyone who copies the file has the key. Encrypt "
                  "it (openssl pkcs8 -topk8 -v2 aes-256-cbc), point dicom_tls_key at the "
                  "new file and store its passphrase: main.py dicom tls-passphrase")
        ]  # fmt: skip
    except (TlsConfigError, OSError) as exc:
        return [Check("DICOM network", "TLS private key", FAIL, str(exc))]
    return [
        Check("DICOM network", "TLS private key", PASS,
              f"{key}: encrypted, opened with the passphrase in the OS keyring")
    ]  # fmt: skip


# --------------------------------------------------------------------------- report


def run_checks(settings: Any) -> list[Check]:
    """Run every check in order; a check that crashes is itself reported as a failure."""
    steps: list[tuple[str, Callable[[], list[Check]]]] = [
        ("Build", check_build),
        ("Policy", lambda: check_policy(settings)),
        ("Qt", check_translations),
        ("DICOM decoders", check_decoders),
        ("Devices", lambda: check_devices(settings)),
        ("Media", check_media_codecs),
        ("Keyring", check_keyring),
        ("Encrypted cache", check_sqlcipher_engine),
        ("Encrypted cache", check_cache),
        ("Hub", lambda: check_hub(settings)),
        ("DICOM network", lambda: check_dicom_network(settings)),
    ]
    results: list[Check] = []
    for group, step in steps:
        try:
            results.extend(step())
        except Exception as exc:  # noqa: BLE001 - the report must always be produced
            results.append(
                Check(
                    group,
                    "check",
                    FAIL,
                    translate("SelfCheck", "the check itself crashed: {error}").format(
                        error=f"{type(exc).__name__}: {exc}"
                    ),
                )
            )
    return results


def format_report(results: list[Check]) -> str:
    """A plain-text report grouped by area, with a summary line at the end (in the language
    ``main`` chose; the English one is what tools parse)."""
    labels = _labels()
    title = translate("SelfCheck", "YiQiao self-check — {time}")
    lines = [title.format(time=time.strftime("%Y-%m-%d %H:%M:%S %z")), ""]
    group = None
    for r in results:
        if r.group != group:
            group = r.group
            lines.append(f"[{labels.get(group, group)}]")
        name = labels.get(r.name)
        for prefix, worded in (
            ("set-aside cache of ", translate("SelfCheck", "set-aside cache of {profile}")),
            ("cache of ", translate("SelfCheck", "cache of {profile}")),
        ):
            if name is None and r.name.startswith(prefix):
                name = worded.format(profile=r.name[len(prefix) :])
        if name is None:  # a setting key, device, decoder or URL path: shown as it is
            name = f"“{r.name}”" if r.group == "Policy" and _language != "en" else r.name
        lines.append(f"  {labels[r.state]:<4}  {name}: {r.detail}")
    counts = {s: sum(r.state == s for r in results) for s in (PASS, WARN, SKIP, FAIL)}
    lines.append("")
    verdict = translate("SelfCheck", "FAILED") if counts[FAIL] else translate("SelfCheck", "OK")
    lines.append(
        translate(
            "SelfCheck",
            "Result: {verdict} ({passed} passed, {warnings} warnings, {skipped} skipped, "
            "{failed} failed)",
        ).format(
            verdict=verdict,
            passed=counts[PASS],
            warnings=counts[WARN],
            skipped=counts[SKIP],
            failed=counts[FAIL],
        )
    )
    return "\n".join(lines) + "\n"


def _argparse_words():  # noqa: ANN202 - a context manager
    """argparse's own sentences in the report's language (nothing without Qt)."""
    try:
        from app.ui.cli_language import argparse_in
    except ImportError:
        import contextlib

        return contextlib.nullcontext()
    return argparse_in(translate)


def use_language(language: str) -> str:
    """Word the report in ``language`` ("system" follows the OS); returns the one used."""
    global _language
    try:
        from app.ui.i18n import use_cli_language
    except ImportError:
        return "en"
    _language = use_cli_language(language)
    return _language


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="YiQiao --self-check",
        description=translate(
            "SelfCheckCli", "Check that this install can do its job and write a report for IT."
        ),
    )
    parser.add_argument(
        "--json", action="store_true", help=translate("SelfCheckCli", "print the results as JSON")
    )
    parser.add_argument(
        "--lang",
        choices=["system", "en", "zh_CN"],
        help=translate(
            "SelfCheckCli",
            "language of the report (default: the language setting, else the system's)",
        ),
    )
    parser.add_argument(
        "--output",
        type=Path,
        help=translate("SelfCheckCli", "also write the report to this file"),
    )
    parser.add_argument(
        "--open",
        action="store_true",
        help=translate(
            "SelfCheckCli",
            "open the saved report afterwards (the Start menu shortcut: a windowed exe "
            "prints nowhere)",
        ),
    )
    parser.add_argument(
        "--demo-keyring",
        action="store_true",
        help=translate(
            "SelfCheckCli", "use an in-memory keyring (testing only: nothing is stored)"
        ),
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the self-check; print and save the report; 0 when nothing failed, else 1."""
    argv = [a for a in (argv or []) if a != "--self-check"]
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # the self-check never opens a window
    from app.config import load_settings

    settings = load_settings()
    # The language first, so that --help and argument errors are worded in it too.
    lang = next((v for k, v in zip(argv, argv[1:], strict=False) if k == "--lang"), None)
    lang = next((a.split("=", 1)[1] for a in argv if a.startswith("--lang=")), lang)
    use_language(lang or settings.get("language", "system"))
    with _argparse_words():
        args, _unknown = _parser().parse_known_args(argv)
    if args.demo_keyring:
        from app.credentials import use_memory_keyring

        use_memory_keyring()
    results = run_checks(settings)
    report = format_report(results)
    text = (
        json.dumps([asdict(r) for r in results], indent=2, ensure_ascii=False)
        if args.json
        else report
    )
    targets = [paths.user_log_dir() / REPORT_FILE_NAME] + ([args.output] if args.output else [])
    for target in targets:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text if target == args.output else report, "utf-8")
        except OSError as exc:
            print(f"could not write the report to {target}: {exc}", file=sys.stderr)
    if sys.stdout is not None:
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except (OSError, UnicodeEncodeError):
            sys.stdout.buffer.write(text.encode("utf-8", "replace"))
    if args.open and hasattr(os, "startfile"):
        os.startfile(targets[-1])  # noqa: S606 - Windows: show the report in the text viewer
    return 1 if any(r.state == FAIL for r in results) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
