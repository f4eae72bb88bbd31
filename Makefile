# YiQiao: two commands on a fresh machine — `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
TS := $(wildcard resources/translations/*.ts)
QM := $(TS:.ts=.qm)

.PHONY: run test lint venv translations ts-update package package-test clean bench qt-libs

# The venv is rebuilt whenever the lock file changes; the lock pins every version.
$(VENV)/.installed: requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	touch $@

venv: $(VENV)/.installed

resources/translations/%.qm: resources/translations/%.ts $(VENV)/.installed
	$(VENV)/bin/pyside6-lrelease -silent $< -qm $@

translations: $(QM)

# Re-extract strings from the UI into the .ts sources (then translate the new entries).
ts-update: venv
	$(VENV)/bin/pyside6-lupdate $$(find app main.py hub/__main__.py hub/accounts.py -name '*.py' | sort) -no-obsolete -ts $(TS)

# Qt's xcb plugin links system X11 libraries the wheels do not bring (ldd on the plugin):
# installed with apt when root, else one line says exactly what to install.
qt-libs: venv
	@$(PY) tools/qt_system_libs.py --install

run: venv translations qt-libs
	$(PY) main.py

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) tools/typecheck.py

test: venv translations lint
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -p no:randomly -n 2 --dist loadfile --durations=15

# The one-dir PyInstaller bundle in dist/YiQiao (reused while its inputs are unchanged).
package: venv translations
	$(PY) packaging/build.py

# Build the bundle and run its --self-check offscreen, plus the installer script checks
# (tests/packaging is also part of `make test`).
package-test: venv translations
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -p no:randomly tests/packaging

bench: venv
	for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf build dist $(QM)
