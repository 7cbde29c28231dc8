# data.mk: the pipelines' data sets, each one .xms made from its inputs.
# Included by pipelines/Makefile; every output goes to $(D) = $(OUT)/data.
#
#   chars-{train,test}.xms   printed characters, 62 classes in ASCII order
#                            (0-9 A-Z a-z), fonts of fonts.txt, every 8th font
#                            held out for test (xmpl-chars)
#   fashion-{train,test}.xms Fashion-MNIST from Debian's dataset-fashion-mnist
#   digits.png               OpenCV's digit sheet (data/opencv-digits.sh)
#   digits-{train,test}-sS.xms  K per class for training, the rest for test,
#                            drawn by seed S (xmpl-digits)
# A source or target of your own: put SRC-train.xms / SRC-test.xms into
# $(D) (e.g. with xm-pack DIR -o ...) and say SOURCE=SRC.

# The generators are order-only prerequisites: rebuilding xm (which relinks
# every binary) must not re-render the data and so re-run every stage after it.
D := $(OUT)/data
FASHION_DIR ?= /usr/share/datasets/fashion-mnist
CHARS_PER_FONT ?= 6
CHARS_SEED ?= 1
K ?= 10

$(D)/chars-train.xms: fonts.txt | $(BIN)/xmpl-chars $(D)/
	$(BIN)/xmpl-chars --fonts fonts.txt --split train --per-font $(CHARS_PER_FONT) --seed $(CHARS_SEED) -f -o $@
$(D)/chars-test.xms: fonts.txt | $(BIN)/xmpl-chars $(D)/
	$(BIN)/xmpl-chars --fonts fonts.txt --split test --per-font $(CHARS_PER_FONT) --seed $(CHARS_SEED) -f -o $@

$(D)/fashion-train.xms: $(FASHION_DIR)/train-images-idx3-ubyte.gz data/fashion-classes.txt | $(D)/
	$(BIN)/xm-pack -q --classes data/fashion-classes.txt $< -f -o $@
$(D)/fashion-test.xms: $(FASHION_DIR)/t10k-images-idx3-ubyte.gz data/fashion-classes.txt | $(D)/
	$(BIN)/xm-pack -q --classes data/fashion-classes.txt $< -f -o $@

$(D)/digits.png: data/opencv-digits.sh | $(D)/
	sh data/opencv-digits.sh $@ $(OUT)/cache
$(D)/digits-train-s%.xms: $(D)/digits.png | $(BIN)/xmpl-digits
	$(BIN)/xmpl-digits --split train -k $(K) --seed $* $< -f -o $@
$(D)/digits-test-s%.xms: $(D)/digits.png | $(BIN)/xmpl-digits
	$(BIN)/xmpl-digits --split test -k $(K) --seed $* $< -f -o $@

# A target without seeds (TARGET=NAME of your own): the same files for every seed.
ifneq ($(TARGET),digits)
$(D)/$(TARGET)-train-s%.xms: | $(D)/$(TARGET)-train.xms
	ln -sf $(TARGET)-train.xms $@
$(D)/$(TARGET)-test-s%.xms: | $(D)/$(TARGET)-test.xms
	ln -sf $(TARGET)-test.xms $@
endif

%/:
	mkdir -p $@

data: $(D)/$(SOURCE)-train.xms $(D)/$(SOURCE)-test.xms \
      $(foreach s,$(SEEDS),$(D)/$(TARGET)-train-s$(s).xms $(D)/$(TARGET)-test-s$(s).xms)
.PHONY: data
