# Two commands: `make run` and `make test`. Everything else is in scripts/.
SHELL := /bin/bash
.PHONY: run test setup lint format sqlsim

run:
	@scripts/setup.sh
	@scripts/run.sh

test:
	@scripts/setup.sh --test
	@scripts/test.sh

setup:
	@scripts/setup.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

format:
	.venv/bin/ruff format . && .venv/bin/ruff check --fix .
