# libFuzzer target for the node's input handling (checks/fuzz/README.md).
#   make fuzz [FUZZ_SECONDS=60] [FUZZ_STAGE=NN]   fuzz stage NN's node (default: newest)
#   make fuzz-build                               only build every stage's fuzz target
# Built with clang into build/fuzz, apart from the cc build: every object is compiled
# again with coverage counters, ASan and UBSan (UBSan aborts, so libFuzzer sees it), and
# the stage's main.c with main renamed, so the target can run the node in a child.
FUZZ_CC ?= clang
FUZZ_DIR := build/fuzz
FUZZ_SECONDS ?= 60
FUZZ_STAGE ?= $(STAGE)
FUZZ_SANITIZE := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS := $(WARNFLAGS) $(CJSON_CFLAGS) -Icommon -g -O1 $(FUZZ_SANITIZE) \
	-fsanitize=fuzzer-no-link

fuzz_obj = $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(1))

$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c -o $@ $<

# A stage's main.c, with main renamed so libFuzzer's main can call it (shorter stem: wins).
$(FUZZ_DIR)/obj/stages/%/main.o: stages/%/main.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Dmain=readpath_stage_main -MMD -MP -c -o $@ $<

# The harness itself is not instrumented: only the node's coverage guides the fuzzer.
$(FUZZ_DIR)/obj/checks/fuzz/fuzz_node.o: checks/fuzz/fuzz_node.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(WARNFLAGS) $(CJSON_CFLAGS) -g -O1 $(FUZZ_SANITIZE) -MMD -MP -c -o $@ $<

FUZZ_BINS :=
FUZZ_FEATURE_SRC :=
define fuzz_stage_rule
FUZZ_FEATURE_SRC += $(filter-out stages/$(1)/main.c,$(wildcard stages/$(1)/*.c))
$(FUZZ_DIR)/$(1)/fuzz-node: $$(call fuzz_obj,$(COMMON_SRC) $$(FUZZ_FEATURE_SRC) \
		stages/$(1)/main.c checks/fuzz/fuzz_node.c)
	@mkdir -p $$(@D)
	$$(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_SANITIZE) -o $$@ $$^ $$(LDLIBS)
FUZZ_BINS += $(FUZZ_DIR)/$(1)/fuzz-node
endef
$(foreach s,$(STAGE_DIRS),$(eval $(call fuzz_stage_rule,$(s))))

-include $(shell find $(FUZZ_DIR)/obj -name '*.d' 2>/dev/null)

.PHONY: fuzz fuzz-build fuzz-deps
fuzz-deps:
	@checks/deps.sh clang
	@checks/fuzz/have-libfuzzer.sh $(FUZZ_CC)

fuzz-build: fuzz-deps
	@$(MAKE) --no-print-directory $(FUZZ_BINS)

fuzz: fuzz-deps
	@$(MAKE) --no-print-directory $(FUZZ_DIR)/$(firstword $(filter $(FUZZ_STAGE)-%,$(STAGE_DIRS)))/fuzz-node
	@FUZZ_BIN=$(FUZZ_DIR)/$(firstword $(filter $(FUZZ_STAGE)-%,$(STAGE_DIRS)))/fuzz-node \
		FUZZ_SECONDS=$(FUZZ_SECONDS) checks/fuzz/run.sh
