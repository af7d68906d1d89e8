# The two commands a newcomer needs: `make run` and `make test`.
PORT ?= 8000
VENV := .venv/bin

.PHONY: setup run dev worker demo-idp test test-browser test-client fuzz mutate topology soak lint format bench

setup:
	@./scripts/bootstrap.sh

## Set up everything and run the IAM on the embedded default (SQLite, dev keys, 127.0.0.1:$(PORT)).
## Mails are sent in-process (IAM_TASKS_BACKEND=immediate) so that one process is enough.
## The issuer (and every published URL) follows PORT unless IAM_ISSUER is set.
## While `make demo-idp` runs, it leaves var/social-demo.env: make run then offers its provider.
DEV_SETTINGS := DEBUG=true IAM_COOKIE_SECURE=false IAM_TASKS_BACKEND=$${IAM_TASKS_BACKEND:-immediate} \
	IAM_ISSUER=$${IAM_ISSUER:-http://127.0.0.1:$(PORT)}
DEV_ENV := $(DEV_SETTINGS) $(shell cat var/social-demo.env 2>/dev/null)
run: dev
	$(DEV_ENV) $(VENV)/python manage.py runserver 127.0.0.1:$(PORT)

## The embedded setup without serving (what `make run` does first): the venv, migrations, and
## var/dev.env, the settings above (not the demo provider's), which manage.py commands typed in
## another terminal read (so the README's commands work as printed). SETUP= skips the venv (the
## tests bring their own).
SETUP ?= setup
dev: $(SETUP)
	@mkdir -p $${IAM_VAR_DIR:-var}
	@printf '%s\n' "# The embedded development setup (written by make run / make dev). The" \
	  "# settings read it only when neither DEBUG nor DATABASE_URL is in the environment." \
	  $(DEV_SETTINGS) > $${IAM_VAR_DIR:-var}/dev.env
	$(DEV_ENV) $(VENV)/python manage.py migrate --noinput

## Try social sign-in locally: a test OpenID provider (tests/social/provider, Node.js) with two
## users on 127.0.0.1:$(DEMO_IDP_PORT), no passwords. Start it, then `make run` (in another
## terminal) offers "Demo OpenID provider" on its sign-in page. Never for production.
DEMO_IDP_PORT ?= 9400
DEMO_IDP_SECRET := iam-demo-secret-for-local-use-only
demo-idp:
	cd tests/social/provider && npm ci --no-audit --no-fund --loglevel=error
	@mkdir -p var
	@echo "IAM_SOCIAL_OIDC_PROVIDERS=demo IAM_SOCIAL_OIDC_DEMO_ISSUER=http://127.0.0.1:$(DEMO_IDP_PORT)" \
		"IAM_SOCIAL_OIDC_DEMO_CLIENT_ID=iam-demo IAM_SOCIAL_OIDC_DEMO_CLIENT_SECRET=$(DEMO_IDP_SECRET)" \
		"IAM_SOCIAL_OIDC_DEMO_DISPLAY_NAME='Demo OpenID provider'" > var/social-demo.env
	@echo "demo provider on http://127.0.0.1:$(DEMO_IDP_PORT); now run 'make run' (PORT=$(PORT))"
	trap 'rm -f var/social-demo.env' EXIT INT TERM; \
		IAM_URL=http://127.0.0.1:$(PORT) DEMO_IDP_PORT=$(DEMO_IDP_PORT) \
		DEMO_IDP_CLIENT_SECRET=$(DEMO_IDP_SECRET) node tests/social/provider/server.mjs --demo

## The mail worker, for a dev setup with IAM_TASKS_BACKEND=database (production runs db_worker).
worker: setup
	DEBUG=true $(VENV)/python manage.py db_worker

## The whole test suite (SQLite + local-memory cache unless DATABASE_URL / REDIS_URL are set).
test: setup
	$(VENV)/pytest -n auto -q

## The browser tests (tests/browser): Debian's Chromium (/usr/bin/chromium, or IAM_TEST_CHROMIUM)
## driven by Playwright against a live IAM. Not part of `make test`; a missing Chromium fails them.
## Screenshots and console logs of failed tests: var/test-artefacts/browser/.
## axe-core (the accessibility checks the hosted pages' tests inject) comes from npm, pinned by
## tests/browser/package-lock.json.
AXE := tests/browser/node_modules/.installed
$(AXE): tests/browser/package.json tests/browser/package-lock.json
	npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
	touch $@

test-browser: setup $(AXE)
	IAM_BROWSER=1 $(VENV)/pytest tests/browser -q

## The production topology on loopback (tests/topology): its own PostgreSQL cluster, redis-server,
## SMTP sink, db_worker and two gunicorn IAM processes; the cross-process properties, the faults
## (PostgreSQL restarted and out of connections, Redis and SMTP down, a worker killed, clock skew:
## needs Debian's faketime) and a one-minute soak. About 2 minutes. Logs: var/topology/.
topology: setup
	IAM_TOPOLOGY=1 SOAK_SECONDS=$${SOAK_SECONDS:-60} $(VENV)/pytest tests/topology -q -p no:xdist

## The soak alone, 10 minutes by default (SOAK_SECONDS); its figures: var/topology/soak.json.
soak: setup
	IAM_TOPOLOGY=1 SOAK_SECONDS=$${SOAK_SECONDS:-600} $(VENV)/pytest tests/topology/test_soak.py -q -p no:xdist

## The schema fuzzer (schemathesis): every operation of /api/schema/, anonymous and signed in,
## must never answer 5xx, and every 4xx is JSON with detail/code. Deterministic; IAM_FUZZ_EXAMPLES
## (default 25) bounds the random examples per operation. Also sends Unicode spellings of existing
## accounts' addresses to the account endpoints.
fuzz: setup
	IAM_FUZZ=1 $(VENV)/pytest tests/fuzz -q

## Security mutations (scripts/mutate.py): each switches one check off in a scratch copy of the
## source and runs the tests that must notice; fails if any mutation survives or its target text
## is gone. About 4 minutes on a busy 2-core machine (2 CPU-minutes; 2 mutations at a time).
mutate: setup
	$(VENV)/python scripts/mutate.py

## The verifier package on its own: a fresh venv with only iam-client and its test extras.
CLIENT_VENV := var/iam-client-venv
test-client: setup
	rm -rf $(CLIENT_VENV)
	$(VENV)/python -m venv $(CLIENT_VENV)
	$(CLIENT_VENV)/bin/pip install --quiet --disable-pip-version-check './packages/iam-client[test,drf,httpx]'
	cd packages/iam-client && ../../$(CLIENT_VENV)/bin/pytest -q

## ruff, the app order and import cycles (import-linter, pyproject.toml), and the type check (mypy).
lint: setup
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .
	$(VENV)/lint-imports --no-cache
	$(VENV)/mypy

format: setup
	$(VENV)/ruff format .
	$(VENV)/ruff check --fix .
