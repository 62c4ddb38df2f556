# build/run-report (checks/report/README.md): a cluster run as one self-contained HTML
# file. Standalone C + cJSON, like the runner and the checkers; the page (CSS and
# script) is report.html.in, turned into a C array here so the program carries it.
REPORT_SRC := $(sort $(wildcard checks/report/*.c))

TOOLS += $(BUILD)/run-report

$(BUILD)/gen/report_template.c: checks/report/report.html.in
	@mkdir -p $(@D)
	{ echo '#include <stddef.h>'; \
	  echo 'extern const unsigned char report_template[];'; \
	  echo 'extern const size_t report_template_len;'; \
	  echo 'const unsigned char report_template[] = {'; \
	  od -An -v -tx1 $< | sed 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	  echo '0x00};'; \
	  echo 'const size_t report_template_len = sizeof report_template - 1;'; } >$@

$(BUILD)/obj/report_template.o: $(BUILD)/gen/report_template.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/run-report: $(call obj,$(REPORT_SRC)) $(BUILD)/obj/report_template.o
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The page's script in a real browser: headless Chromium (apt-get installs it when
# missing, ~290 MB, so not in make check). Saves build/report.png; REPORT_SCREENSHOT=docs/report.png
# refreshes the README's picture.
.PHONY: report-browser-check
report-browser-check: deps
	@$(MAKE) --no-print-directory all
	@READPATH_BUILD=$(BUILD) NODE_BIN=$(NODE_BIN) STAGE=$(STAGE) checks/report/browser-check.sh
