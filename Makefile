# readpath: one entry point. `make help` lists the targets.
#
# Stage N's node = common/ + the feature files of stages 01..N + stage N's main.c.
# A stage directory holds only what that stage adds, so the link line grows stage by stage.

CC ?= cc
CFLAGS ?= -O2 -g
WARNFLAGS := -std=c11 -Wall -Wextra -Werror -pedantic -D_POSIX_C_SOURCE=200809L
CJSON_CFLAGS := $(shell pkg-config --cflags libcjson 2>/dev/null)
CJSON_LIBS := $(shell pkg-config --libs libcjson 2>/dev/null || echo -lcjson)
LDLIBS += $(CJSON_LIBS) -lm

# make check SANITIZE=1: every binary with ASan + UBSan, in build/sanitize. UBSan
# only prints by default; halting makes undefined behaviour fail the test it happens in.
ifeq ($(SANITIZE),1)
# (gcc leaves float-to-integer overflow out of "undefined"; it is asked for by name.)
CFLAGS += -fsanitize=address,undefined,float-cast-overflow -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined,float-cast-overflow
BUILD ?= build/sanitize
READPATH_TIME_SCALE ?= 3
export READPATH_TIME_SCALE
export UBSAN_OPTIONS = halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS = detect_leaks=1:abort_on_error=0
endif
BUILD ?= build

ALL_CFLAGS = $(WARNFLAGS) $(CJSON_CFLAGS) -Icommon $(CFLAGS)

STAGE_DIRS := $(sort $(patsubst stages/%/main.c,%,$(wildcard stages/*/main.c)))
NEWEST := $(lastword $(STAGE_DIRS))
STAGE ?= $(firstword $(subst -, ,$(NEWEST)))
STAGE_DIR := $(firstword $(filter $(STAGE)-%,$(STAGE_DIRS)))
NODE_BIN := $(BUILD)/$(STAGE_DIR)/node

COMMON_SRC := $(sort $(wildcard common/*.c))
COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/obj/%.o)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

NODES :=
FEATURE_SRC :=
# One link rule per stage, in order, each adding that stage's feature files.
define stage_rule
FEATURE_SRC += $(filter-out stages/$(1)/main.c,$(wildcard stages/$(1)/*.c))
$(BUILD)/$(1)/node: $(COMMON_OBJ) $$(call obj,$$(FEATURE_SRC) stages/$(1)/main.c)
	@mkdir -p $$(@D)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
NODES += $(BUILD)/$(1)/node
endef
$(foreach s,$(STAGE_DIRS),$(eval $(call stage_rule,$(s))))

# Tools under checks/ (cluster runner, checkers, bench helpers) add themselves to TOOLS.
TOOLS :=
-include $(sort $(wildcard checks/*/*.mk))
# Skeletons a student fills in (EXERCISES.md): make exercise STAGE=NN.
include exercises/exercise.mk

tools: $(TOOLS)

.PHONY: all tools deps check check-one demo bench bench-node bench-reads bench-durable bench-lease lease-experiment \
	maelstrom grade help format clean
.DEFAULT_GOAL := all

all: $(NODES) $(TOOLS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

deps:
	@checks/deps.sh

check: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory check-one

# The suites of stages 00..STAGE run against stage STAGE's node, plus the tool suites.
check-one:
	@READPATH_BUILD=$(BUILD) NODE_BIN=$(NODE_BIN) STAGE=$(STAGE) checks/run.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@READPATH_BUILD=$(BUILD) NODE_BIN=$(NODE_BIN) STAGE=$(STAGE) checks/demo.sh

bench-node: deps
	@$(MAKE) --no-print-directory all
	@READPATH_BUILD=$(BUILD) NODE_BIN=$(NODE_BIN) checks/bench-node.sh

maelstrom: deps
	@$(MAKE) --no-print-directory all
	@NODE_BIN=$(NODE_BIN) checks/maelstrom.sh

bench-reads: deps
	@$(MAKE) --no-print-directory all
	@READPATH_BUILD=$(BUILD) NODE_BIN=$(NODE_BIN) checks/bench-reads.sh

# Durable writes: in memory vs --data-dir with the fsync before sending vs in parallel.
bench-durable: deps
	@$(MAKE) --no-print-directory all
	@READPATH_BUILD=$(BUILD) NODE_BIN=$(BUILD)/00-raft-kv/node checks/bench-durable.sh

# Black-box checks of stages 00..STAGE against any Maelstrom node (checks/grade/):
# make grade STAGE=00 NODE=starter/python/node.py. Without NODE, STAGE's own node.
grade:
	@$(MAKE) --no-print-directory all
	@READPATH_BUILD=$(BUILD) checks/grade/grade.sh $(STAGE) $(or $(NODE),$(NODE_BIN))

# Stage 03's clock experiment, verbose: each case prints its arithmetic and what it saw.
lease-experiment: deps
	@$(MAKE) --no-print-directory all
	@READPATH_BUILD=$(BUILD) NODE_BIN=$(BUILD)/03-lease-reads/node READPATH_VERBOSE=1 \
		prove -v checks/t03-experiment.sh

bench-lease: deps
	@$(MAKE) --no-print-directory all
	@READPATH_BUILD=$(BUILD) NODE_BIN=$(BUILD)/03-lease-reads/node checks/bench-lease.sh

format:
	clang-format -i $(wildcard common/*.[ch] stages/*/*.[ch] checks/*/*.[ch] exercises/*/*.[ch] starter/c/*.[ch])

clean:
	rm -rf build

help:
	@echo "make            build every stage's node and the tools under build/"
	@echo "make tools      build only the runner and checkers under checks/"
	@echo "make check      install what is missing, build, run the TAP suites (STAGE=NN: suites 00..NN against stage NN)"
	@echo "make check SANITIZE=1   the same, every binary built with ASan + UBSan (build/sanitize)"
	@echo "make check-one  the suites of make check, without installing or building first (what is built is tested)"
	@echo "make demo       install, build, run a 3-node cluster of the newest stage, print a report and write it as HTML"
	@echo "make report-browser-check  the HTML report's script in headless Chromium (installs it, ~290 MB); saves build/report.png (REPORT_SCREENSHOT=docs/report.png refreshes the README picture)"
	@echo "make bench      read strategies side by side (N = 3, 5, 7) and one node vs a cJSON echo; build/bench/ + charts (~8 min; BENCH_OUT=bench/results refreshes the committed run)"
	@echo "make bench-node ops/s of one node on 100,000 piped ops"
	@echo "make bench-reads  read strategies side by side at N = 3, 5 (stage 01+)"
	@echo "make bench-durable  writes in memory vs --data-dir, fsync before sending vs in parallel (~1 min)"
	@echo "make bench-lease  lease_read vs read vs follower_read at 1 ms and 10 ms links (stage 03)"
	@echo "make lease-experiment  stage 03's clock experiment, each case's arithmetic printed"
	@echo "make fuzz FUZZ_SECONDS=N   libFuzzer (clang) over STAGE's message handling"
	@echo "make soak RUNS=N  seeded random faults (partitions, pauses, spikes, kills with sub-second restarts, duplication; stage 03: lease configs) against every stage, every checker on every history"
	@echo "make soak-memory  3 durable nodes, writes at full speed for MEMORY_SECONDS (600), --snapshot-every 500: RSS and data dir stay flat"
	@echo "make valgrind   memcheck of every stage's node under a short cluster workload"
	@echo "make grade STAGE=NN NODE=path  score any Maelstrom node (any language) on stages 00..NN: examples, protocol, faults"
	@echo "make exercise STAGE=NN        build stage NN with your skeleton from exercises/NN-*/ and grade it (EXERCISES.md)"
	@echo "make maelstrom  Jepsen Maelstrom's lin-kv against STAGE's node (says how to get maelstrom if missing)"
	@echo "make format     clang-format every C file"
	@echo "make clean      remove build/"
	@echo "stages: $(STAGE_DIRS)"
