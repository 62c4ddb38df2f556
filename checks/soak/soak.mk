# Randomized fault runs (checks/soak.sh): make soak [RUNS=N] [STAGE=NN] [SOAK_SECONDS=S]
# [SOAK_SEED=K] runs RUNS seeded runs of every stage's node (or only STAGE's when STAGE
# is given on the command line) and checks each history with every applicable checker.
# build/soak-spike (checks/soak/spike.c) is the wrapper that adds latency spikes.
RUNS ?= 10
SOAK_SECONDS ?= 5
SOAK_SEED ?= 1
SOAK_NODES := $(if $(filter command line,$(origin STAGE)),$(NODE_BIN),$(NODES))

TOOLS += $(BUILD)/soak-spike

$(BUILD)/soak-spike: $(call obj,checks/soak/spike.c)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^

.PHONY: soak
soak: deps
	@$(MAKE) --no-print-directory $(SOAK_NODES) tools
	@READPATH_BUILD=$(BUILD) RUNS=$(RUNS) SOAK_SECONDS=$(SOAK_SECONDS) SOAK_SEED=$(SOAK_SEED) \
		checks/soak.sh $(SOAK_NODES)

# Flat memory under writes at full speed (checks/soak-memory.sh, not in make check):
# make soak-memory [MEMORY_SECONDS=600] runs 3 durable nodes of STAGE with a small
# --snapshot-every and asserts the last minute's RSS is within 1.5x of the first
# minute's and the data directory stays bounded.
MEMORY_SECONDS ?= 600
.PHONY: soak-memory
soak-memory: deps
	@$(MAKE) --no-print-directory $(NODE_BIN) $(BUILD)/cluster
	@READPATH_BUILD=$(BUILD) NODE_BIN=$(NODE_BIN) MEMORY_SECONDS=$(MEMORY_SECONDS) \
		checks/soak-memory.sh
