# Atrium's entry points. The Node of .nvmrc comes from scripts/ensure-node.sh unless the machine has it.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
NODE_BIN := $(shell scripts/ensure-node.sh)
export PATH := $(NODE_BIN):$(CURDIR)/node_modules/.bin:$(PATH)
# Native addons compile against the headers of the Node that runs them, not the machine's.
export npm_config_nodedir := $(abspath $(NODE_BIN)/..)

.PHONY: bench dev test check lint format typecheck test-unit test-integration screenshots cluster-up cluster-down binaries dataplane crds chart chart-check deps console console-client

## dev: run Atrium on its embedded default (local control plane, CRDs, sample catalog) until Ctrl-C
dev: deps binaries console
	node test/cluster/cli.ts dev

## test: everything CI runs: lint, typecheck, unit and integration tests
test: deps binaries dataplane console check
	npm test

check: lint typecheck
lint:
	biome check .
format:
	biome check --write .
typecheck:
	tsc -p tsconfig.json
	tsc -p console/tsconfig.json
test-unit: deps
	npm run test:unit
test-integration: deps binaries dataplane console
	npm run test:integration
## screenshots: the console's browser tests, saving their screenshots into docs/screenshots (the README's)
screenshots: deps binaries console
	ATRIUM_SCREENSHOTS=1 vitest run --project integration $(wildcard test/integration/console-*.test.ts)

## cluster-up / cluster-down: a local control plane in the background, for kubectl and fast test reruns
cluster-up: deps binaries
	node test/cluster/cli.ts up
cluster-down:
	node test/cluster/cli.ts down

## binaries: build the pinned control-plane binaries once (cached under ~/.cache/atrium)
binaries:
	@time bash test/cluster/build-binaries.sh >/dev/null

## dataplane: build the data plane of Gateway API mode once, for its tests (Envoy Gateway + Envoy, ADR 0025)
dataplane:
	@time bash test/cluster/build-dataplane.sh >/dev/null

## crds: regenerate crds/manifests from the TypeScript schemas (and the chart's CRD templates)
crds: deps
	node crds/src/generate.ts
	node charts/generate.ts

## chart: regenerate the chart's CRD templates, values.yaml, values.schema.json and values table;
## chart-check: its static checks (lint, helm-unittest, kubeconform, checkov; also in make test)
chart: deps
	node charts/generate.ts
chart-check: deps
	bash charts/check.sh

deps: node_modules/.atrium-installed
node_modules/.atrium-installed: package-lock.json package.json crds/package.json kube/package.json operator/package.json gateway/package.json api/package.json test/package.json console/package.json
	npm ci --no-audit --no-fund
	touch $@
# The Prisma clients for api/src/db (git-ignored), regenerated when a schema changes.
deps: api/src/db/generated/sqlite/client.ts api/src/db/generated/postgresql/client.ts
api/src/db/generated/%/client.ts: api/prisma/%/schema.prisma api/prisma/%/prisma.config.ts node_modules/.atrium-installed
	prisma generate --config api/prisma/$*/prisma.config.ts >/dev/null
	touch $@

## console: build the web console into console/dist (the API serves it), when a source changed
console: console/dist/index.html
console/dist/index.html: $(shell find console/src -type f) console/index.html console/vite.config.ts console/package.json crds/src/permissions.ts crds/src/roles.ts crds/src/rank.ts node_modules/.atrium-installed
	cd console && vite build --logLevel warn
## console-client: regenerate the console's API types (console/src/api/schema.d.ts) after a route change
console-client: deps
	node console/scripts/generate-client.ts

## bench: run the benchmark scenarios (SCENARIO=name for one); results in bench/results/
bench: deps binaries dataplane
	SCENARIO=$(SCENARIO) node bench/run.ts
