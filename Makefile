# promote: the two commands a new machine needs are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The AWS CLI in a venv of its own: awscli pins versions (rsa < 4.8) that ours cannot share.
# The sandbox tests run the runbooks' `aws ...` commands with it.
AWSCLI := .venv-awscli
ESTATE := estates/bbws

.PHONY: setup demo test lint bench clean

setup: $(STAMP) $(AWSCLI)/bin/aws

# Reinstall only when the package metadata changes, so `make setup` is quick when done.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

$(AWSCLI)/bin/aws:
	@test -x $(AWSCLI)/bin/python || $(PYTHON) -m venv $(AWSCLI)
	$(AWSCLI)/bin/python -m pip install --quiet --disable-pip-version-check 'awscli>=1.36'

# The BBWS estate promoted DEV -> SIT -> PROD in the sandbox (promote.sandbox.demo). The
# AWS CLI's venv is on PATH for the runbooks' shell steps (`aws lambda get-function ...`).
# 0.0002: the SIT soak (48 h, 8 checkpoints) takes 35 s, PROD's 15m + 30m bakes 0.5 s.
TIME_SCALE ?= 0.0002

demo: setup
	$(BIN)/promote validate $(ESTATE)
	$(BIN)/promote plan prod $(ESTATE)
	@echo "== The BBWS README's original schedule (Wave 1 in SIT before the Wave 2 it needs) is refused:"
	@$(BIN)/promote validate tests/fixtures/estates/bbws_original_schedule; test $$? -eq 2
	PATH="$(CURDIR)/$(AWSCLI)/bin:$$PATH" $(BIN)/python -m promote.sandbox.demo $(ESTATE) --time-scale $(TIME_SCALE)

# pytest exits 5 when it collects no tests; that is not a failure of the suite.
test: setup
	$(BIN)/pytest -q -p no:cacheprovider; rc=$$?; if [ $$rc -eq 5 ]; then rc=0; fi; exit $$rc

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) $(AWSCLI) .promote .mypy_cache .ruff_cache build src/*.egg-info
