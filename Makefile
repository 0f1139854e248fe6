# Nocturne: `make run` serves the app, `make test` runs every test. Both bootstrap what is
# missing (virtualenv, Python packages, the web build) and are safe to run again.

# The first of these that really runs (pyenv shims exist for versions that are not active).
PYTHON ?= $(shell for p in python3.12 python3.11 python3; do \
	$$p -c 'import sys; sys.exit(sys.version_info[:2] not in ((3, 11), (3, 12)))' 2>/dev/null \
	&& { command -v $$p; break; }; done)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install run test test-fast test-system lint format bench demo clean web

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Nocturne needs Python 3.11 or 3.12 (python3.11/python3.12/python3)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# The web page (web/) built into api/static; a no-op until the page exists.
web:
	@if [ -f web/package.json ]; then $(MAKE) -C web build; fi

run: install web
	$(BIN)/nocturne run

test: install web
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not slow and not browser"

# Load, faults and hostile input against the real app, database, simulator and SMTP.
test-system: install web
	$(BIN)/python -m pytest tests/system

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install web
	ONLY=$(ONLY) $(BIN)/python -m bench

# The whole app against the local site simulator: no traffic leaves the machine.
SIM_PORT ?= 8765
SIM_URL  := http://127.0.0.1:$(SIM_PORT)
demo: install web
	@echo "simulator on $(SIM_URL), app on http://127.0.0.1:8000 (Ctrl-C stops both)"
	@$(BIN)/nocturne simulate --port $(SIM_PORT) & sim=$$!; \
	trap 'kill $$sim 2>/dev/null; wait $$sim 2>/dev/null' EXIT INT TERM; \
	EVENTBRITE_BASE_URL=$(SIM_URL) MEETUP_BASE_URL=$(SIM_URL) LUMA_API_BASE_URL=$(SIM_URL) \
	SUPABASE_URL= SUPABASE_KEY= SUPABASE_DB_URL= $(BIN)/nocturne run

clean:
	rm -rf $(VENV) api/static web/node_modules
