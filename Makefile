# The two commands of the README:
#   make demo   a real `pulumi up` of the local stack on the sandbox cluster (root), certificates issued
#   make test   everything CI runs: lint, type checks, unit, policy, workflow and engine tests
# Both set up what they need on a fresh machine (a virtualenv from the pinned
# requirements; the offline engine, built once and cached outside the repo).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt policy/requirements.txt | sha256sum | cut -c1-12)

.PHONY: setup engine lint test-unit test-engine test demo status docs bench bench-issuance bench-edge bench-engine mutate clean

setup: $(STAMP)
	@# The policy pack's own virtualenv (PulumiPolicy.yaml: virtualenv venv), as CI's
	@# .github/actions/pulumi-setup makes it; redone when policy/requirements.txt changes.
	@stamp=policy/venv/.installed-$$(sha256sum policy/requirements.txt | cut -c1-12); \
	test -f $$stamp || { \
	  echo "creating policy/venv from policy/requirements.txt"; \
	  $(PYTHON) -m venv policy/venv && \
	  policy/venv/bin/python -m pip install --quiet --disable-pip-version-check -r policy/requirements.txt && \
	  rm -f policy/venv/.installed-* && touch $$stamp; }

$(STAMP): requirements.txt requirements-dev.txt policy/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $@

# Pulumi CLI, Kubernetes provider plugin, kube-apiserver and etcd, from Go modules.
engine:
	scripts/engine

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy .
	$(PY) -m mypy policy/*.py  # its own __main__.py clashes with the program's

# What a pull request runs before its previews: no engine needed.
test-unit: lint
	$(PY) -m pytest -v -m "not engine"

test-engine: setup engine
	$(PY) -m pytest -v -m engine

test: lint engine
	$(PY) -m pytest -v

demo: setup engine
	$(PY) -m tools.demo $(DEMO_FLAGS)

# Per host of a stack's sites: certificate Ready, issuer, expiry, the reason
# when not Ready, and with STACK (which gives the stack's ingressIp) whether
# the name resolves to it, the HTTP redirect and the HTTPS answer with the
# certificate as served. Against the current kubeconfig context.
status: setup
	$(PY) -m tools.status $(if $(STACK),--stack $(STACK) --requests) $(STATUS_FLAGS)

# docs/configuration.md's key reference, from the config models' field docstrings
# (a unit test fails when the committed file is stale).
docs: setup
	$(PY) -m scripts.config_reference

bench: setup
	$(PY) -m bench.program_eval

# From `up` to every certificate Ready and every name serving HTTPS on the
# sandbox cluster, 3 and 30 sites; requests per second through the edge
# beside the backend directly (both need root).
bench-issuance: setup engine
	$(PY) -m bench.issuance $(BENCH_FLAGS)

bench-edge: setup engine
	$(PY) -m bench.edge_load $(BENCH_FLAGS)

# The real engine against kubectl on the same API server: 10, 100 and 300
# sites, file and gs:// backends, each also with PULUMI_SKIP_CHECKPOINTS=true
# (root: the sandbox cluster). BENCH_FLAGS="--sites 300 --runs 1" for one count.
bench-engine: setup engine
	$(PY) -m bench.engine_scale --skip-checkpoints $(BENCH_FLAGS)

# Mutation testing of components/, __main__.py and policy/ against the unit and
# policy tests (docs/development.md "Mutation testing"): the score, every surviving mutant
# and the run time; fails under 95% or on a stale tests/mutation-equivalents.txt.
mutate: setup
	$(PY) -m scripts.mutation_report $(MUTATE_FLAGS)

clean:
	-$(PY) -m tools.sandbox stop
	rm -rf .sandbox
