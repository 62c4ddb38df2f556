# make grade's negative control (checks/grade/naive-node.c): standalone C + cJSON.
TOOLS += $(BUILD)/naive-node

$(BUILD)/naive-node: $(BUILD)/obj/checks/grade/naive-node.o
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
