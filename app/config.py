"""Layered settings: defaults < machine policy (IT) < user settings, with policy locking.

A policy key both sets a value and locks it: the user layer cannot override it and the
Settings dialog shows the field disabled with the reason. A malformed policy file or a wrong
value never stops the app: the problem is recorded (``Settings.problems``), logged, and the
value falls back to what the next layer below provides.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app import paths

log = logging.getLogger(__name__)

POLICY_REGISTRY_KEY = r"Software\Policies\YiQiao"


def _is_url(value: Any) -> str | None:
    if not isinstance(value, str):
        return "must be text"
    if value and not value.startswith(("https://", "http://")):
        return "must start with https:// or http://"
    return None


def _is_proxy(value: Any) -> str | None:
    if not isinstance(value, str):
        return "must be text"
    if value in ("", "system", "none"):
        return None
    # HTTP(S) proxies only: SOCKS would need PySocks, which the client does not ship.
    if not value.startswith(("http://", "https://")):
        return "must be 'system', 'none' or an HTTP proxy URL such as http://proxy:3128"
    return None


def _is_existing_file_or_empty(value: Any) -> str | None:
    if not isinstance(value, str):
        return "must be a file path"
    if value and not Path(value).is_file():
        return f"file not found: {value}"
    return None


def _is_ae_title(value: Any) -> str | None:
    if not isinstance(value, str):
        return "must be text"
    if not 1 <= len(value.strip()) <= 16 or "\\" in value or not value.isascii():
        return "must be 1 to 16 ASCII characters without a backslash"
    if any(not ch.isprintable() for ch in value):
        return "must not contain control characters"
    return None


def _is_port(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return "must be a whole number"
    if not 1 <= value <= 65535:
        return "must be between 1 and 65535"
    return None


def _is_dicom_node_or_empty(value: Any) -> str | None:
    # "AE@host:port", e.g. "PACS@10.1.2.3:104": one value IT can paste from the PACS sheet.
    if not isinstance(value, str):
        return "must be text"
    if not value:
        return None
    ae, at, rest = value.partition("@")
    host, colon, port = rest.rpartition(":")
    if not at or not colon or not host or _is_ae_title(ae) or not port.isdigit():
        return "must look like AE_TITLE@host:port, e.g. PACS@10.1.2.3:104"
    return _is_port(int(port))


def _is_node_list(value: Any) -> str | None:
    # Comma-separated AE_TITLE@host:port entries (the C-MOVE destinations we may send to).
    if not isinstance(value, str):
        return "must be text: AE_TITLE@host:port entries separated by commas"
    for item in (v.strip() for v in value.split(",")):
        if item and _is_dicom_node_or_empty(item):
            return f"entry {item!r} must look like AE_TITLE@host:port, e.g. VIEWER@10.1.2.3:104"
    return None


def _is_caller_list(value: Any) -> str | None:
    # Comma-separated AE titles and/or IP addresses; empty lets any caller in.
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    if not isinstance(value, str):
        return "must be text: AE titles or IP addresses separated by commas"
    for item in (v.strip() for v in value.split(",")):
        if item and _is_ae_title(item):
            return f"entry {item!r} is neither an AE title nor an IP address"
    return None


def _one_of(*choices: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if value not in choices:
            return "must be one of " + ", ".join(repr(c) for c in choices)
        return None

    return check


def _of_type(kind: type) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if kind is int and isinstance(value, bool):
            return "must be a whole number"
        if not isinstance(value, kind):
            return {bool: "must be true or false", int: "must be a whole number"}.get(
                kind, f"must be {kind.__name__}"
            )
        return None

    return check


@dataclass(frozen=True)
class SettingSpec:
    """One setting: its default, how to validate it, and whether IT may lock it."""

    key: str
    default: Any
    validate: Callable[[Any], str | None]
    policy: bool = False
    expect: str = "text"  # what a valid value looks like: url, proxy, file, choice, bool, int
    choices: tuple[str, ...] = ()


def _choice(key: str, default: str, choices: tuple[str, ...], policy: bool) -> SettingSpec:
    return SettingSpec(key, default, _one_of(*choices), policy, "choice", choices)


SPECS: dict[str, SettingSpec] = {
    s.key: s
    for s in [
        # Empty hub_url means "embedded demo hub on loopback" (the `make run` default).
        SettingSpec("hub_url", "", _is_url, policy=True, expect="url"),
        SettingSpec("ca_bundle", "", _is_existing_file_or_empty, policy=True, expect="file"),
        SettingSpec("proxy", "system", _is_proxy, policy=True, expect="proxy"),
        _choice("language", "system", ("system", "en", "zh_CN"), policy=True),
        SettingSpec("camera_allowed", True, _of_type(bool), policy=True, expect="bool"),
        SettingSpec("microphone_allowed", True, _of_type(bool), policy=True, expect="bool"),
        SettingSpec("self_update_allowed", True, _of_type(bool), policy=True, expect="bool"),
        _choice("log_level", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"), policy=True),
        SettingSpec("camera_device", "", _of_type(str)),
        SettingSpec("microphone_device", "", _of_type(str)),
        SettingSpec("speaker_device", "", _of_type(str)),
        SettingSpec("audio_only", False, _of_type(bool), expect="bool"),
        SettingSpec("last_username", "", _of_type(str)),
        SettingSpec("blob_cache_budget_mb", 2048, _of_type(int), expect="int"),
        # DICOM networking (app/dicom_net): our own node, who may send to it, the PACS.
        SettingSpec("dicom_receive_enabled", False, _of_type(bool), policy=True, expect="bool"),
        SettingSpec("dicom_ae_title", "YIQIAO", _is_ae_title, policy=True),
        SettingSpec("dicom_port", 11112, _is_port, policy=True, expect="int"),
        SettingSpec("dicom_bind_address", "0.0.0.0", _of_type(str), policy=True),
        SettingSpec("dicom_allowed_callers", "", _is_caller_list, policy=True),
        SettingSpec("dicom_pacs", "", _is_dicom_node_or_empty, policy=True),
        # DICOM TLS (app/dicom_net/tls.py): our certificate and key (PEM) make the receiver
        # speak TLS; with a client CA, senders must show a certificate it signed.
        SettingSpec("dicom_tls_cert", "", _is_existing_file_or_empty, policy=True, expect="file"),
        SettingSpec("dicom_tls_key", "", _is_existing_file_or_empty, policy=True, expect="file"),
        SettingSpec(
            "dicom_tls_client_ca", "", _is_existing_file_or_empty, policy=True, expect="file"
        ),
        SettingSpec("dicom_pacs_tls", False, _of_type(bool), policy=True, expect="bool"),
        # Where our C-MOVE SCP may send what another node asks it to move.
        SettingSpec("dicom_move_destinations", "", _is_node_list, policy=True),
        # ... over DICOM TLS (ca_bundle verifies them; our dicom_tls_cert/key shown).
        SettingSpec("dicom_move_tls", False, _of_type(bool), policy=True, expect="bool"),
        SettingSpec("dicomweb_url", "", _is_url, policy=True, expect="url"),
        # Which side of a consultation may query that PACS for priors (app.dicom_net.nodes).
        _choice("dicom_query_sides", "both", ("both", "target", "requester", "none"), policy=True),
    ]
}

SECRET_WORDS = ("password", "token", "secret", "key")


@dataclass(frozen=True)
class SettingProblem:
    """A wrong value found in a layer: where, which key, why, and what was used instead."""

    source: str
    key: str
    message: str
    used_instead: Any
    kind: str = "invalid"  # invalid | unreadable | unknown_key
    value: Any = None
    line: int | None = None  # for unreadable files, where the parser stopped

    def describe(self) -> str:
        """One line for logs and the startup notice."""
        return f"{self.source}: '{self.key}' {self.message}; using {self.used_instead!r} instead"


@dataclass
class Settings:
    """The effective settings, which keys policy locks, and problems met while loading."""

    values: dict[str, Any]
    locked: dict[str, str] = field(default_factory=dict)  # key -> where the lock comes from
    problems: list[SettingProblem] = field(default_factory=list)
    user_file: Path | None = None
    _user: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def get(self, key: str, default: Any = None) -> Any:
        """The effective value of ``key``."""
        return self.values.get(key, default)

    def is_locked(self, key: str) -> bool:
        """True when machine policy sets this key."""
        return key in self.locked

    def set_user(self, key: str, value: Any) -> None:
        """Change a user setting (refused when policy locks it or the value is invalid)."""
        spec = SPECS.get(key)
        if spec is None:
            raise KeyError(f"unknown setting {key!r}")
        if key in self.locked:
            raise PermissionError(f"'{key}' is set by your IT department ({self.locked[key]})")
        problem = spec.validate(value)
        if problem:
            raise ValueError(f"'{key}' {problem}")
        self._user[key] = value
        self.values[key] = value

    def save(self) -> None:
        """Write the user layer atomically (only the user's own values, never policy)."""
        if self.user_file is None:
            return
        self.user_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.user_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._user, indent=2, ensure_ascii=False), "utf-8")
        os.replace(tmp, self.user_file)

    def redacted(self) -> dict[str, Any]:
        """Effective settings with anything secret-looking masked, for diagnostics."""
        return {
            k: ("***" if any(w in k.lower() for w in SECRET_WORDS) and v else v)
            for k, v in self.values.items()
        }


def read_policy_file(path: Path) -> tuple[dict[str, Any], list[SettingProblem]]:
    """Parse the TOML policy file; a broken file yields no keys and one problem."""
    if not path.is_file():
        return {}, []
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        found = re.search(r"line (\d+)", str(exc))
        return {}, [
            SettingProblem(
                str(path),
                "(file)",
                f"cannot be read: {exc}",
                "defaults",
                "unreadable",
                line=int(found.group(1)) if found else None,
            )
        ]
    except OSError as exc:
        return {}, [
            SettingProblem(
                str(path), "(file)", f"cannot be opened: {exc}", "defaults", "unreadable"
            )
        ]
    # Accept both flat keys and a [yiqiao] table, which IT tools sometimes produce.
    if isinstance(data.get("yiqiao"), dict):
        data = {**{k: v for k, v in data.items() if k != "yiqiao"}, **data["yiqiao"]}
    return data, []


def read_policy_registry() -> dict[str, Any]:
    """Values under HKLM\\Software\\Policies\\YiQiao (Windows only; DWORD → bool/int)."""
    if sys.platform != "win32":
        return {}
    import winreg

    values: dict[str, Any] = {}
    try:
        with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, POLICY_REGISTRY_KEY) as key:
            index = 0
            while True:
                try:
                    name, value, kind = winreg.EnumValue(key, index)
                except OSError:
                    break
                index += 1
                if kind == winreg.REG_DWORD and name in SPECS:
                    if isinstance(SPECS[name].default, bool):
                        value = bool(value)
                values[name] = value
    except OSError:
        return {}
    return values


def load_settings(
    policy_file: Path | None = None,
    user_file: Path | None = None,
    registry: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the effective settings from defaults, policy (file, then registry) and user."""
    policy_file = policy_file or paths.machine_policy_file()
    user_file = user_file or (paths.user_config_dir() / "settings.json")
    values = {k: s.default for k, s in SPECS.items()}
    settings = Settings(values=values, user_file=user_file)

    policy_layers: list[tuple[str, Mapping[str, Any]]] = []
    file_values, file_problems = read_policy_file(policy_file)
    settings.problems.extend(file_problems)
    policy_layers.append((str(policy_file), file_values))
    policy_layers.append(
        ("HKLM\\" + POLICY_REGISTRY_KEY, read_policy_registry() if registry is None else registry)
    )

    user_values: dict[str, Any] = {}
    if user_file.is_file():
        try:
            loaded = json.loads(user_file.read_text("utf-8"))
            if not isinstance(loaded, dict):
                raise ValueError("top level is not an object")
            user_values = loaded
        except (ValueError, OSError) as exc:
            settings.problems.append(
                SettingProblem(
                    str(user_file), "(file)", f"cannot be read: {exc}", "defaults", "unreadable"
                )
            )

    for source, layer in policy_layers:
        for key, value in layer.items():
            spec = SPECS.get(key)
            if spec is None or not spec.policy:
                settings.problems.append(
                    SettingProblem(source, key, "is not a policy key", None, "unknown_key", value)
                )
                continue
            problem = spec.validate(value)
            if problem:
                settings.problems.append(
                    SettingProblem(source, key, problem, values[key], "invalid", value)
                )
                continue
            values[key] = value
            settings.locked[key] = source

    for key, value in user_values.items():
        spec = SPECS.get(key)
        if spec is None or key in settings.locked:
            continue  # policy wins silently; unknown keys come from newer versions
        problem = spec.validate(value)
        if problem:
            settings.problems.append(
                SettingProblem(str(user_file), key, problem, values[key], "invalid", value)
            )
            continue
        values[key] = value
        settings._user[key] = value

    for found in settings.problems:
        log.warning("settings problem: %s", found.describe())
    return settings
