# The local cluster runner (checks/harness/). Included by the top Makefile; built by
# `make tools` or `make build/cluster`. Standalone C + cJSON: it links nothing from
# common/, so it can judge any node, including a broken one.
HARNESS_SRC := $(sort $(wildcard checks/harness/*.c))
HARNESS_OBJ := $(HARNESS_SRC:%.c=$(BUILD)/obj/%.o)

TOOLS += $(BUILD)/cluster

$(BUILD)/cluster: $(HARNESS_OBJ)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
