# make exercise STAGE=NN: stage NN's node with the skeleton in exercises/NN-*/ in place
# of the solution, built into $(BUILD)/exercise/NN-*/node and graded. A skeleton file
# replaces the file of the same name in stages/NN-*/ or common/; everything else is the
# solution's (earlier stages' feature files included), so the seam is the only gap.

EXERCISE_DIRS := $(sort $(patsubst exercises/%/,%,$(wildcard exercises/*/)))
EXERCISE_DIR := $(firstword $(filter $(STAGE)-%,$(EXERCISE_DIRS)))

# The feature files of the stages before each stage.
exercise_features_so_far :=
define exercise_before
EXERCISE_BEFORE_$(1) := $$(exercise_features_so_far)
exercise_features_so_far += $(filter-out stages/$(1)/main.c,$(wildcard stages/$(1)/*.c))
endef
$(foreach s,$(STAGE_DIRS),$(eval $(call exercise_before,$(s))))

define exercise_rule
EXERCISE_SKELETON_$(1) := $(wildcard exercises/$(1)/*.c)
EXERCISE_KEPT_$(1) := $$(filter-out $$(addprefix %/,$$(notdir $$(EXERCISE_SKELETON_$(1)))),\
	$(COMMON_SRC) $$(EXERCISE_BEFORE_$(1)) $(wildcard stages/$(1)/*.c))
$(BUILD)/obj/exercises/$(1)/%.o: CFLAGS += -Istages/$(1)
$(BUILD)/exercise/$(1)/node: $$(call obj,$$(EXERCISE_KEPT_$(1)) $$(EXERCISE_SKELETON_$(1)))
	@mkdir -p $$(@D)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
EXERCISES += $(BUILD)/exercise/$(1)/node
endef
$(foreach e,$(EXERCISE_DIRS),$(eval $(call exercise_rule,$(e))))

.PHONY: exercise exercises
exercises: $(EXERCISES)

exercise:
	@test -n "$(EXERCISE_DIR)" || { echo "no skeleton for stage $(STAGE) under exercises/ (have: $(EXERCISE_DIRS))"; exit 2; }
	@$(MAKE) --no-print-directory all $(BUILD)/exercise/$(EXERCISE_DIR)/node
	@READPATH_BUILD=$(BUILD) checks/grade/grade.sh $(STAGE) $(BUILD)/exercise/$(EXERCISE_DIR)/node
