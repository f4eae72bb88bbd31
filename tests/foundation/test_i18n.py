"""Chinese UI: no English left where the project owns the string; Qt's dialogs too."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication, QDialogButtonBox

from app.config import load_settings
from app.context import AppContext
from app.ui.i18n import install_translators, resolve_language
from tests.foundation.ui_text import shown_texts, untranslated
from tools.ts_fill import DEFAULT_TS, unfinished


@pytest.fixture
def chinese(qapp):
    loaded = install_translators("zh_CN")
    yield loaded
    install_translators("en")


def test_language_follows_the_os_unless_overridden():
    assert resolve_language("system", "zh_CN") == "zh_CN"
    assert resolve_language("system", "zh_TW") == "zh_CN"
    assert resolve_language("system", "de_DE") == "en"
    assert resolve_language("en", "zh_CN") == "en"


def test_translation_source_is_complete():
    import xml.etree.ElementTree as ET

    missing = unfinished(ET.parse(DEFAULT_TS).getroot())
    assert not missing, f"{len(missing)} untranslated entries, e.g. {missing[:5]}"


def test_no_translation_call_hides_inside_an_f_string():
    """lupdate skips f-string expressions, so a tr() there ships untranslated in zh_CN."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    hidden = []
    for path in sorted((root / "app").rglob("*.py")) + [root / "main.py"]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.JoinedStr):
                continue
            for inner in ast.walk(node):
                func = inner.func if isinstance(inner, ast.Call) else None
                name = getattr(func, "attr", None) or getattr(func, "id", None)
                if name in ("tr", "translate"):
                    hidden.append(f"{path.relative_to(root)}:{inner.lineno}")
    assert not hidden, "tr()/translate() inside an f-string (lupdate misses it): " + ", ".join(
        hidden
    )


def test_main_window_and_every_page_fully_chinese(chinese, qtbot, policy_file):
    from app.ui.main_window import MainWindow
    from app.ui.pages import PAGES

    assert "yiqiao_zh_CN" in chinese, "build the .qm first: make translations"
    assert "qtbase_zh_CN" in chinese
    policy_file.write_text('language = "fr"\n')  # makes the policy banner appear too
    window = MainWindow(AppContext(settings=load_settings(registry={})))
    qtbot.addWidget(window)
    for key, _module, _cls in PAGES:
        window.show_page(key)
    bad = untranslated(shown_texts(window))
    assert not bad, "\n".join(bad)
    assert window.nav.item(0).text() == "会诊"


def test_dialogs_fully_chinese(chinese, qtbot, policy_file):
    from app.ui.about_dialog import AboutDialog
    from app.ui.login_dialog import LoginDialog
    from app.ui.settings_dialog import SettingsDialog

    policy_file.write_text('hub_url = "https://hub.example.cn"\n')
    context = AppContext(settings=load_settings(registry={}))
    for dialog in (
        SettingsDialog(context.settings),
        LoginDialog(context),
        AboutDialog(),
    ):
        qtbot.addWidget(dialog)
        bad = untranslated(shown_texts(dialog))
        assert not bad, "\n".join(bad)


def test_qt_standard_buttons_are_translated(chinese, qtbot):
    box = QDialogButtonBox(
        QDialogButtonBox.StandardButton.Cancel | QDialogButtonBox.StandardButton.Close
    )
    qtbot.addWidget(box)
    assert box.button(QDialogButtonBox.StandardButton.Cancel).text() == "取消"
    assert QApplication.translate("MainWindow", "Patients") == "患者"


# -- error paths: every validation rule, every hub reason, in Chinese ---------------------


def _bad_values(info) -> list[object]:  # noqa: ANN001 - pydantic FieldInfo
    """Values breaking each constraint pydantic declares on a field (plus a wrong type)."""
    from annotated_types import Ge, Le, MaxLen, MinLen
    from pydantic.fields import FieldInfo

    assert isinstance(info, FieldInfo)
    bad: list[object] = [{"not": "a value"}]
    for rule in info.metadata:
        if isinstance(rule, MinLen) and rule.min_length:
            bad.append("")
        elif isinstance(rule, MaxLen):
            bad.append("x" * (rule.max_length + 1))
        elif isinstance(rule, Ge):
            bad.append(rule.ge - 1)
        elif isinstance(rule, Le):
            bad.append(rule.le + 1)
        elif getattr(rule, "pattern", None):
            bad.append("@@ not this @@")
    return bad


def _every_record_problem():
    """(doc type, field, value, problems) for each rule of every record schema."""
    from app.protocol.records import FIELD_MODELS, RecordInvalid, validate_fields

    out = []
    for doc_type, model in FIELD_MODELS.items():
        required = {
            name: ("x" if name != "kind" else "photo")
            for name, info in model.model_fields.items()
            if info.is_required()
        }
        for name, info in model.model_fields.items():
            values = _bad_values(info)
            if name == "birth_date":
                values.append("1965/03/15")
            if info.is_required():
                values.append(None)
            for value in values:
                fields = {**required, name: value}
                if value is None:
                    del fields[name]
                try:
                    validate_fields(doc_type, fields)
                except RecordInvalid as exc:
                    out.append((doc_type, name, value, exc))
    return out


def test_every_validation_rule_reads_in_chinese(chinese):
    from app.ui.wording import record_invalid_text

    cases = _every_record_problem()
    assert len(cases) > 60, "the walk should reach every rule of every record type"
    bad = []
    for doc_type, name, value, exc in cases:
        text = record_invalid_text(exc)
        assert exc.problems, (doc_type, name, value)
        problems = untranslated([(f"{doc_type}.{name}={value!r:.30}", text)])
        if problems or name in text:
            bad.append(f"{doc_type}.{name}={value!r:.30}: {text!r}")
    assert not bad, "\n".join(bad)


def test_the_issues_examples_read_as_sentences(chinese):
    from app.protocol.records import RecordInvalid, validate_fields
    from app.ui.wording import record_invalid_text

    with pytest.raises(RecordInvalid) as birth:
        validate_fields("patient", {"name": "王芳", "birth_date": "1965/03/15"})
    assert record_invalid_text(birth.value) == "出生日期格式应为 年-月-日，例如 1965-03-15"
    with pytest.raises(RecordInvalid) as pressure:
        validate_fields("vitals", {"bp_systolic": 1650})
    assert record_invalid_text(pressure.value) == "收缩压（mmHg）不能大于 300"
    install_translators("en")
    assert record_invalid_text(birth.value) == (
        "Date of birth must be written as year-month-day, e.g. 1965-03-15"
    )


def test_every_record_field_has_a_label(chinese):
    """A new field in app/protocol/records.py needs a row in app/ui/sync/field_labels.py."""
    from app.protocol.records import FIELD_MODELS
    from app.ui.wording import label_for

    missing = [
        f"{doc_type.value}.{name}"
        for doc_type, model in FIELD_MODELS.items()
        for name in model.model_fields
        if label_for(name) == name
    ]
    assert not missing, f"add labels for {missing} to app/ui/sync/field_labels.py"


def test_every_problem_code_reads_in_chinese(chinese):
    from app.protocol.problems import Problem
    from app.ui.wording import PROBLEM_CODES, problem_text

    params = {"min": 1, "max": 9, "allowed": ["routine", "urgent"], "before": "draft"}
    texts = [
        (code, problem_text(Problem("urgency", code, {**params, "after": "closed"})))
        for code in PROBLEM_CODES
    ]
    bad = untranslated(texts)
    assert not bad, "\n".join(bad)
    assert len({t for _c, t in texts}) == len(texts), "each code has its own sentence"


def test_every_hub_reason_reads_in_chinese(chinese):
    from app.protocol.problems import HUB_ERROR_CODES
    from app.protocol.sync import RejectReason
    from app.sync import errors
    from app.ui.wording import hub_error_text, reject_reason_text

    texts = [(code, hub_error_text(errors.HubError("english", code))) for code in HUB_ERROR_CODES]
    texts += [(r.value, reject_reason_text(r.value)) for r in RejectReason]
    from app.sync.status import ItemStatus
    from app.ui.sync.identity import sync_text

    texts += [
        (f"row {r.value}", sync_text(ItemStatus("error", reason=f"{r.value}: outside your scope")))
        for r in RejectReason
    ]
    texts += [
        (kind.__name__, hub_error_text(kind("english detail")))
        for kind in (
            errors.HubOffline,
            errors.LoginRefused,
            errors.TlsUntrusted,
            errors.HubServerError,
            errors.HubBadReply,
            errors.BatchTooLarge,
        )
    ]
    bad = untranslated(texts)
    assert not bad, "\n".join(bad)
    assert hub_error_text(errors.LoginRefused("x", "invalid_credentials")) == "用户名或密码错误。"


def test_the_hub_sends_no_reason_the_client_cannot_word():
    """Every ErrorBody code raised anywhere in hub/ is in HUB_ERROR_CODES (source walk)."""
    import re
    from pathlib import Path

    from app.protocol.problems import HUB_ERROR_CODES

    hub_dir = Path(__file__).resolve().parents[2] / "hub"
    pattern = re.compile(
        r"(?:HubError|error_response)\(\s*(?:status_code=)?\d{3},\s*\"([a-z_]+)\"|"
        r"^\s*\d{3}: \"([a-z_]+)\",$|return \d{3}, \"([a-z_]+)\"|^\s*\d{3},\s*\n?\s*\"([a-z_]+)\",$",
        re.M,
    )
    found = set()
    for path in hub_dir.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for m in pattern.finditer(text):
            found.add(next(g for g in m.groups() if g))
        for m in re.finditer(r"HubError\(\s*\d{3},\s*\"([a-z_]+)\"", text, re.S):
            found.add(m.group(1))
    assert {"invalid_credentials", "not_found", "unsupported_protocol"} <= found
    assert not found - set(HUB_ERROR_CODES), sorted(found - set(HUB_ERROR_CODES))


def test_every_banner_about_local_records_reads_in_chinese(chinese):
    from app.sync.cache import CacheKeyWrong
    from app.sync.recovery import Notice
    from app.ui.wording import NOTICE_CODES, notice_text, session_failure_text

    texts = [(code, notice_text(Notice(code, params))) for code, params in NOTICE_CODES]
    texts.append(("open failed", session_failure_text(CacheKeyWrong("english", path=None))))
    bad = untranslated(texts)
    assert not bad, "\n".join(bad)
    assert len({t for _c, t in texts}) == len(texts)


def test_help_lists_every_command_in_chinese():
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "main.py", "--lang", "zh_CN", "--help"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for command in ("--self-check", "export", "dicom receive", "hub serve", "--lang"):
        assert command in text, text
    # Commands, options and file placeholders are the words one types; the rest is Chinese.
    prose = [
        ("--help", line)
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith(("-", "export", "dicom", "hub", "用法"))
    ]
    bad = untranslated(prose)
    assert not bad, "\n".join(bad)
    english = subprocess.run(
        [sys.executable, "main.py", "--lang", "en", "--help"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert "--self-check" in english and "export IN.dcm" in english and "hub serve" in english


def test_self_check_report_reads_in_chinese(chinese, policy_file):
    from app import selfcheck

    policy_file.write_text('hub_url = "http://127.0.0.1:9"\nlanguage = "fr"\n')
    from app import paths
    from app.sync.cache import cache_key, open_cache

    folder = paths.user_data_dir() / "profiles" / "doc1-0123456789"
    folder.mkdir(parents=True)
    open_cache(folder / "cache.db", cache_key("doc1-0123456789")).close()
    (folder / "cache.db.unreadable-20260101-120000").write_bytes(b"kept")
    (folder / "cache.db.unreadable-20260101-120000.keywrap").write_text("{}")
    try:
        assert selfcheck.use_language("zh_CN") == "zh_CN"
        settings = load_settings(registry={})
        results = (
            selfcheck.check_policy(settings)
            + selfcheck.check_translations()
            + selfcheck.check_keyring()
            + selfcheck.check_sqlcipher_engine()
            + selfcheck.check_cache()
            + selfcheck.check_hub(settings)
        )
        report = selfcheck.format_report(results)
    finally:
        selfcheck._language = "en"
    assert "结果：未通过" in report, report  # the hub at port 9 is unreachable
    assert "用户下次用密码登录时会发送其中尚未发送的内容" in report, report
    technical = ("MemoryKeyring", "SQLCipher", "YiQiao/")  # class and library names
    lines = [
        ("self-check", line)
        for line in report.splitlines()[1:]
        if line.strip() and not any(t in line for t in technical)
    ]
    bad = untranslated(lines)
    assert not bad, "\n".join(bad)
