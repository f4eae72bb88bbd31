"""Settings problems (e.g. a wrong key in IT's policy file) in the user's language."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication

from app.config import SPECS, SettingProblem


def expected_text(key: str) -> str:
    """What a valid value for ``key`` looks like, in words."""
    spec = SPECS.get(key)
    if spec is None:
        return ""
    if spec.expect == "choice":
        return QCoreApplication.translate("SettingProblems", "one of {choices}").format(
            choices=", ".join(spec.choices)
        )
    return {
        "url": QCoreApplication.translate("SettingProblems", "an address starting with https://"),
        "proxy": QCoreApplication.translate(
            "SettingProblems", "system, none or a proxy address such as http://proxy:3128"
        ),
        "file": QCoreApplication.translate("SettingProblems", "the path of an existing file"),
        "bool": QCoreApplication.translate("SettingProblems", "true or false"),
        "int": QCoreApplication.translate("SettingProblems", "a whole number"),
    }.get(spec.expect, QCoreApplication.translate("SettingProblems", "text"))


def describe(problem: SettingProblem) -> str:
    """One translated line naming the file, the key, what is wrong and what is used."""
    if problem.kind == "unreadable":
        if problem.line:
            return QCoreApplication.translate(
                "SettingProblems",
                "{source}: the file cannot be read (line {line}); defaults are used.",
            ).format(source=problem.source, line=problem.line)
        return QCoreApplication.translate(
            "SettingProblems", "{source}: the file cannot be read; defaults are used."
        ).format(source=problem.source)
    if problem.kind == "unknown_key":
        return QCoreApplication.translate(
            "SettingProblems", "{source}: '{key}' is not a setting IT can set; it is ignored."
        ).format(source=problem.source, key=problem.key)
    return QCoreApplication.translate(
        "SettingProblems",
        "{source}: '{key}' = {value} is not valid (expected {expected}); using {used} instead.",
    ).format(
        source=problem.source,
        key=problem.key,
        value=repr(problem.value),
        expected=expected_text(problem.key),
        used=repr(problem.used_instead),
    )
