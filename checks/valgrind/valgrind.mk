# valgrind memcheck of every stage's node (checks/valgrind.sh): make valgrind [STAGE=NN]
# A short cluster workload and two piped runs per node; 0 errors and 0 bytes definitely
# lost, or it fails. First a negative control: build/valgrind-leaky-node, which loses a
# block per input line, must be caught. Uses the plain build (valgrind cannot run ASan
# binaries).
VALGRIND_NODES := $(if $(filter command line,$(origin STAGE)),$(NODE_BIN),$(NODES))

$(BUILD)/valgrind-leaky-node: $(call obj,checks/valgrind/leaky-node.c)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

.PHONY: valgrind
valgrind: deps
	@checks/deps.sh valgrind
	@$(if $(filter 1,$(SANITIZE)),echo "valgrind: not with SANITIZE=1 (ASan and valgrind do not mix)"; exit 2)
	@$(MAKE) --no-print-directory $(VALGRIND_NODES) tools $(BUILD)/valgrind-leaky-node
	@READPATH_BUILD=$(BUILD) checks/valgrind.sh $(VALGRIND_NODES)
