# The two commands a newcomer needs: `make run` and `make test`.
PORT ?= 8000
VENV := .venv/bin

.PHONY: setup run test lint format bench

setup:
	@./scripts/bootstrap.sh

## Set up everything and run the IAM on the embedded default (SQLite, dev keys, 127.0.0.1:$(PORT)).
run: setup
	DEBUG=true IAM_COOKIE_SECURE=false $(VENV)/python manage.py migrate --noinput
	DEBUG=true IAM_COOKIE_SECURE=false $(VENV)/python manage.py runserver 127.0.0.1:$(PORT)

## The whole test suite (SQLite + local-memory cache unless DATABASE_URL / REDIS_URL are set).
test: setup
	$(VENV)/pytest -n auto -q

lint: setup
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .

format: setup
	$(VENV)/ruff format .
	$(VENV)/ruff check --fix .
