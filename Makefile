# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000

.PHONY: run test lint format vendor check-python clean bench

check-python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed; run: make run PYTHON=python3.12")'

$(BIN)/python: | check-python
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall only when a requirements file changes.
$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

# The server and one job worker (alerts, reminders, imports, exports) share SITE_ROOT,
# so links in e-mails point at the port the site is served on. Ctrl-C stops both.
run: $(VENV)/.runtime
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	@echo "Serving on http://127.0.0.1:$(PORT)/ with a job worker beside it  (Ctrl-C to stop)"
	export SITE_ROOT=$${SITE_ROOT:-http://127.0.0.1:$(PORT)}; \
	$(BIN)/python manage.py qcluster & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT INT TERM; \
	$(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

test: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n auto

# Speed and memory against their floors on the local PostgreSQL (scratch databases,
# dropped afterwards): make bench [PATIENTS=10000]
PATIENTS ?= 2000
bench: $(VENV)/.dev
	$(BIN)/python -m benchmarks.run --patients $(PATIENTS)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Copy the pinned npm packages of package.json into static/vendor/ (committed).
vendor:
	npm install --no-audit --no-fund
	mkdir -p static/vendor/bootstrap static/vendor/chartjs
	cp node_modules/bootstrap/dist/css/bootstrap.min.css node_modules/bootstrap/LICENSE static/vendor/bootstrap/
	cp node_modules/chart.js/dist/chart.umd.min.js node_modules/chart.js/LICENSE.md static/vendor/chartjs/
	# No source maps are shipped; their references would break the manifest storage.
	sed -i '/sourceMappingURL/d' static/vendor/bootstrap/*.min.* static/vendor/chartjs/*.min.js

clean:
	rm -rf $(VENV) staticfiles node_modules
