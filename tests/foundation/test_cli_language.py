"""Every command line (export, dicom, hub and their sub-commands) speaks Chinese in zh_CN:
help, results and errors; only what one types (commands, options, placeholders) stays Latin."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.foundation.ui_text import untranslated

REPO = Path(__file__).resolve().parents[2]

HELP = [
    ["--self-check"],
    ["export"],
    ["dicom"],
    *[["dicom", c] for c in ("echo", "send", "find", "move", "get", "receive", "inbox")],
    ["hub"],
    ["hub", "serve"],
    ["hub", "demo"],
    ["hub", "admin"],
    *[
        ["hub", "admin", c]
        for c in (
            "facility-add",
            "facility-list",
            "user-add",
            "user-list",
            "passwd",
            "disable",
            "enable",
            "audit",
        )
    ],
]
# Wrong command lines: argparse's own refusals and each CLI's own errors.
ERRORS = [
    ["export"],
    ["export", "in.dcm", "out.bmp"],
    ["export", "in.dcm", "out.png", "--window", "abc"],
    ["export", "missing.dcm", "out.png"],
    ["export", "in.dcm", "out.png", "--frame", "x"],
    ["dicom", "echo"],
    ["dicom", "send", "--pacs", "PACS@127.0.0.1:9", "no-such-folder"],
    ["dicom", "find", "--pacs", "not-a-node"],
    ["dicom", "find", "--level", "image"],
    ["dicom", "frobnicate"],
    ["hub", "serve", "--data", "{tmp}/hub", "--host", "0.0.0.0"],
    ["hub", "serve", "--data", "{tmp}/hub", "--tls-cert", "x.pem"],
    ["hub", "admin", "--data", "{tmp}/hub", "user-add", "--username", "Bad Name", "--name",
     "x", "--role", "clinic_doctor", "--facility", "f", "--password", "12345678"],
    ["hub", "admin", "--data", "{tmp}/hub", "facility-add", "--id", "f", "--name", "x",
     "--kind", "castle"],
    ["hub", "admin", "--data", "{tmp}/hub", "passwd", "nobody", "--password", "12345678"],
    ["hub", "admin"],
]  # fmt: skip

# One process runs every command line through main.main() as ``main.py`` would (a process
# per command line would cost a Qt start-up each).
_RUNNER = """
import contextlib, io, json, sys
import main
out = []
for argv in json.loads(sys.argv[1]):
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            code = main.main(argv)
        except SystemExit as exc:
            code = exc.code
    out.append([argv, code if isinstance(code, int) else str(code), stdout.getvalue(),
                stderr.getvalue()])
print(json.dumps(out))
"""


def _run(argvs: list[list[str]]) -> list[tuple[list[str], object, str, str]]:
    result = subprocess.run(
        [sys.executable, "-c", _RUNNER, json.dumps(argvs)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    return [tuple(r) for r in json.loads(result.stdout.splitlines()[-1])]


_TYPED = re.compile(
    r"\{[^}]*\}"  # choices {echo,send,…}
    r"|(?<![\w-])--?[A-Za-z][\w-]*"  # options
    r"|\b[A-Z][A-Z0-9_]{1,}(?:x[A-Z]+)?\b"  # METAVARS, AE, UID, PEM, WIDTHxHEIGHT
    r"|\$\w+"  # environment variables
)


_IDENTIFIER = re.compile(r"[A-Za-z_][\w./:-]*")


def _prose(text: str, typed_words: set[str]) -> list[str]:
    """The lines a person reads, without the words one types."""
    lines = []
    in_usage = False
    for line in text.splitlines():
        stripped = line.strip()
        in_usage = stripped.startswith("用法") or (in_usage and bool(stripped))
        if not stripped or in_usage or stripped.startswith("dicom "):
            continue  # usage synopsis and examples: nothing but commands and options
        plain = _IDENTIFIER.sub(lambda m: " " if m.group(0) in typed_words else m.group(0), line)
        plain = _TYPED.sub(" ", plain)
        if plain.strip():
            lines.append(plain.strip())
    return lines


def _typed_words(argvs: list[list[str]], outputs: list[str]) -> set[str]:
    words = {w for argv in argvs for w in argv}
    for text in outputs:
        for choices in re.findall(r"\{([^}]*)\}", text):
            words.update(choices.split(","))
        usage = False
        for line in text.splitlines():  # positional names (input, files, username)
            usage = line.startswith("用法") or (usage and bool(line.strip()))
            if usage:
                words.update(_IDENTIFIER.findall(line))
    # Values an administrator types (roles, facility kinds, log levels), setting keys, and
    # the names of products.
    words.update(
        {"township_clinic", "county_hospital", "provincial_center", "clinic_doctor",
         "specialist", "coordinator", "admin", "dicom_pacs", "dicom_ae_title", "dicom_port",
         "dicom_bind_address", "debug", "info", "warning", "error", "main.py", "SQLite",
         "X-Forwarded-For/-Proto", "postgresql://", "deploy/", "docs/deployment.md"}
    )  # fmt: skip
    return words


def test_every_help_is_chinese():
    runs = _run([[*argv, "--help", "--lang", "zh_CN"] for argv in HELP])
    typed = _typed_words(HELP, [r[2] for r in runs])
    bad = []
    for argv, code, out, err in runs:
        assert code == 0 and "用法" in out and "选项" in out, (argv, code, out, err)
        bad += untranslated([(" ".join(argv), line) for line in _prose(out, typed)])
    assert not bad, "\n".join(bad)
    english = _run([["hub", "serve", "--help", "--lang", "en"]])[0][2]
    assert "usage:" in english and "run the HTTP server" not in english
    assert "folder for the SQLite file and blobs" in english


def test_every_command_line_error_is_chinese(tmp_path):
    argvs = [[a.replace("{tmp}", str(tmp_path)) for a in argv] for argv in ERRORS]
    runs = _run([["--lang", "zh_CN", *argv] for argv in argvs])
    typed = _typed_words(argvs, [r[3] for r in runs])
    bad = []
    for argv, code, out, err in runs:
        assert code not in (0, None), (argv, out, err)
        assert "错误" in err, (argv, err)
        # A detail in parentheses is the file/library's own words (kept for IT); the
        # sentence before it is ours and must be Chinese.
        sentences = [line for line in err.splitlines() if not line.lstrip().startswith("(")]
        bad += untranslated(
            [(" ".join(argv), line) for line in _prose("\n".join(sentences), typed)]
        )
    assert not bad, "\n".join(bad)
