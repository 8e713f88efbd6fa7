# The verbs: `make run` serves the dashboard (on the sandbox store when no NEXT_API_TOKEN is set,
# which pushes its ticket changes to the dashboard's webhook with a secret made for this run),
# `make test` runs the whole suite, `make bench` measures, `make lint` checks style.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
SANDBOX_PORT ?= 8001
export SANDBOX_PORT

.PHONY: run test bench lint format system-deps clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	@# The product as people see it: its own 404, 403 and 500 pages (tracebacks stay in this
	@# console), over plain HTTP, with a secret key kept for this checkout (var/, private) so
	@# that sessions outlive a restart. DJANGO_DEBUG=1 make run shows Django's debug pages.
	@mkdir -p var && chmod 700 var
	@[ -s var/local-secret-key ] || (umask 077 && $(PY) -c 'import secrets; print(secrets.token_urlsafe(50))' > var/local-secret-key)
	@export DJANGO_DEBUG=$${DJANGO_DEBUG:-0} DJANGO_HTTPS=$${DJANGO_HTTPS:-0} \
	  DJANGO_SECRET_KEY="$${DJANGO_SECRET_KEY:-$$(cat var/local-secret-key)}"; \
	$(PY) manage.py migrate --noinput --verbosity 0 && \
	$(PY) manage.py collectstatic --noinput --verbosity 0 && \
	if [ -z "$$NEXT_API_TOKEN" ]; then \
	  $(PY) manage.py ensure_demo_user --email maya.thompson@example-store.test; \
	  $(PY) -m tools.sandbox --print-tags | $(PY) manage.py import_tags -; \
	fi && \
	if [ -z "$$NEXT_API_TOKEN" ]; then \
	  echo "No NEXT_API_TOKEN: starting the sandbox store on 127.0.0.1:$(SANDBOX_PORT)"; \
	  secret=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(32))'); \
	  SANDBOX_WEBHOOK_SECRET="$$secret" $(PY) -m tools.sandbox --host 127.0.0.1 \
	    --port $(SANDBOX_PORT) --churn --webhook-url http://127.0.0.1:$(PORT)/webhooks/next/ & \
	  sandbox=$$!; trap 'kill $$sandbox 2>/dev/null' EXIT INT TERM; \
	  export NEXT_WEBHOOK_SECRET="$$secret"; \
	fi; \
	echo "Dashboard: http://127.0.0.1:$(PORT)/"; \
	$(PY) manage.py runserver 127.0.0.1:$(PORT)

# Debian's chromium drives the browser tests; redis-server and postgresql back the
# several-machines tests, and the suite runs on a throwaway PostgreSQL cluster; Java and npm
# run the Nu Html Checker.
# Installed when missing and we are root; otherwise say how.
system-deps:
	@missing=""; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	[ -x /usr/bin/redis-server ] || missing="$$missing redis-server"; \
	command -v java >/dev/null || missing="$$missing default-jre-headless"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "The tests need Debian packages:$$missing"; \
	    echo "Install them with: sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

# Every test on a throwaway PostgreSQL cluster, then the ones marked also_sqlite (migrations,
# sign-in, a list, a saved view) again on SQLite, the default of `make run`: in one process,
# as a second would cost more to start than its share of a few dozen tests.
# The Nu Html Checker (npm's vnu-jar, pinned in its lock file), run on Java by the tests.
VALIDATOR := tools/validator/node_modules/.installed
$(VALIDATOR): tools/validator/package.json tools/validator/package-lock.json | system-deps
	npm ci --prefix tools/validator --no-audit --no-fund --ignore-scripts --loglevel=error
	touch $@

test: $(VENV)/.installed-dev system-deps $(VALIDATOR)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(PY) -m tools.folder_cycles
	$(PY) -m tools.with_postgres $(VENV)/bin/pytest -n $${TEST_WORKERS:-2} --dist loadgroup
	env -u DATABASE_URL $(VENV)/bin/pytest -n 0 -m also_sqlite

# The parent process only drives the benchmark; the gunicorn it starts runs with DEBUG off.
bench: $(VENV)/.installed-dev system-deps
	DJANGO_DEBUG=$${DJANGO_DEBUG:-1} $(PY) -m tools.bench

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) staticfiles
