# Deterministic unit tests of the Raft core on a simulated cluster (checks/unit/).
# Links the core from common/ and nothing that reads stdin or the wall clock for
# decisions (trace.o's timestamps and clock.o are for log lines only).
RAFT_OBJ = $(call obj,$(wildcard common/raft*.c))
UNIT_OBJ := $(call obj,checks/unit/raft_test.c checks/unit/raft_regress.c checks/unit/raft_durable.c \
	checks/unit/raft_snapshots.c checks/unit/sim.c \
	checks/unit/tap.c)

TOOLS += $(BUILD)/raft-test

$(BUILD)/raft-test: $(UNIT_OBJ) $(RAFT_OBJ) $(BUILD)/obj/common/trace.o \
		$(BUILD)/obj/common/clock.o $(BUILD)/obj/common/proto.o
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# common/forwarded: the leader's memory of forwarded requests (no Raft, no I/O).
TOOLS += $(BUILD)/forwarded-test

$(BUILD)/forwarded-test: $(call obj,checks/unit/forwarded_test.c checks/unit/tap.c) \
		$(BUILD)/obj/common/forwarded.o
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Stage 01's staleness proof (stages/01-follower-reads/fr_proof.c) on the simulated
# cluster, in virtual time: checks/t01-virtual.sh.
TOOLS += $(BUILD)/follower-read-test

$(BUILD)/follower-read-test: $(call obj,checks/unit/follower_read_test.c checks/unit/sim.c \
		checks/unit/tap.c stages/01-follower-reads/fr_proof.c) $(RAFT_OBJ) \
		$(BUILD)/obj/common/trace.o $(BUILD)/obj/common/clock.o $(BUILD)/obj/common/proto.o
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Stage 03's lease and its rule (stages/03-lease-reads/lease_state.c, lease_rule.c) on the
# simulated cluster, on drifting virtual clocks: checks/t03-virtual.sh.
TOOLS += $(BUILD)/lease-test

$(BUILD)/lease-test: $(call obj,checks/unit/lease_test.c checks/unit/sim.c checks/unit/tap.c \
		stages/03-lease-reads/lease_state.c stages/03-lease-reads/lease_rule.c) \
		$(RAFT_OBJ) $(BUILD)/obj/common/kv.o $(BUILD)/obj/common/trace.o \
		$(BUILD)/obj/common/clock.o $(BUILD)/obj/common/proto.o
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
