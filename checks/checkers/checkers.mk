# History checkers (checks/checkers/README.md). Standalone C + cJSON: nothing from common/.
CHECKERS_SHARED := $(call obj,checks/checkers/checker.c checks/checkers/history.c)

$(BUILD)/check-linearizable: $(call obj,checks/checkers/check_linearizable.c \
		checks/checkers/wgl.c checks/checkers/memo.c) $(CHECKERS_SHARED)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/check-staleness: $(call obj,checks/checkers/check_staleness.c) $(CHECKERS_SHARED)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/check-ryw: $(call obj,checks/checkers/check_ryw.c) $(CHECKERS_SHARED)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Simulated histories for the checkers' own tests and timing (not a checker).
$(BUILD)/gen-history: $(call obj,checks/checkers/gen_history.c checks/checkers/checker.c)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

TOOLS += $(BUILD)/check-linearizable $(BUILD)/check-staleness $(BUILD)/check-ryw \
	$(BUILD)/gen-history
