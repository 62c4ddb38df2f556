# make bench (checks/bench/README-section.md): every stage's node on piped input against
# a cJSON echo baseline, then the read strategies on 3, 5 and 7-node clusters. Writes
# CSV and gnuplot charts to bench/results/ and prints a summary table. Not a test.
$(BUILD)/bench-echo: $(call obj,checks/bench/echo.c)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

.PHONY: bench
# A stage that does not build yet (one being written) is left out, not a failure.
bench:
	@checks/deps.sh gnuplot
	@$(MAKE) --no-print-directory tools $(BUILD)/bench-echo
	@for node in $(NODES); do \
		$(MAKE) --no-print-directory -s $$node >/dev/null 2>&1 || echo "bench: $$node does not build; left out"; \
	done
	@READPATH_BUILD=$(BUILD) checks/bench/bench.sh
