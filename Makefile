# Two commands set everything up on a fresh machine with Python >= 3.11 and make:
#   make demo   creates .venv, installs mscsim, runs the flagship example into out/
#   make test   installs the dev extras into the same .venv and runs the test suite
#   make docs   runs the demo, then rewrites the README's numbers and figures from it
#   make fuzz   feeds 2,000 mutated inputs to the CLI: no traceback, hang or leftover file
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
SYSTEM_STAMP := $(VENV)/.installed-system

.PHONY: demo docs test lint bench fuzz clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[report,web]"
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev,report,web]"
	touch $(STAMP) $@

# Debian packages for the browser tests and Chinese reports (Chromium, Noto CJK, poppler).
$(SYSTEM_STAMP): scripts/install_system_deps.sh | $(BIN)/python
	scripts/install_system_deps.sh
	touch $@

demo: $(STAMP) $(SYSTEM_STAMP)
	mkdir -p out
	$(BIN)/mscsim dose --route intravenous --weight-kg 65 --cells-per-kg 1e6
	$(BIN)/mscsim qc examples/uc_msc_lot.toml --cells 6.5e7 --weight-kg 65
	$(BIN)/mscsim simulate examples/sca_uc_msc_iv.toml -o out/sca_uc_msc_iv.csv --doses-out out/sca_doses.csv
	$(BIN)/mscsim plot examples/sca_uc_msc_iv.toml -o out/sca_uc_msc_iv.png --log
	$(BIN)/mscsim simulate examples/cli_bm_msc_im.toml -o out/cli_bm_msc_im.csv
	$(BIN)/mscsim plot examples/cli_bm_msc_im.toml -o out/cli_bm_msc_im.png --log
	$(BIN)/mscsim compare examples/cli_bm_msc_im.toml --split 1,2,4 --plot out/compare_cli.png
	$(BIN)/mscsim withdrawal examples/sca_uc_msc_iv.toml --plot out/withdrawal_sca.png
	$(BIN)/mscsim compare examples/products/*.toml --plot out/products.png
	$(BIN)/mscsim trial examples/sca_trial.toml -o out/trial --power-curve 5,10,20,40
	$(BIN)/mscsim simulate examples/organs_human_iv_indium.toml -o out/organs_human.csv
	$(BIN)/mscsim plot examples/organs_human_iv_indium.toml -o out/organs_human.png --log
	$(BIN)/mscsim plot examples/organs_mouse_iv.toml -o out/organs_mouse.png --log
	$(BIN)/mscsim plot examples/organs_rat_iv.toml -o out/organs_rat.png --log
	$(BIN)/mscsim export-sbml examples/organs_human_iv_indium.toml -o out/organs_human.xml
	$(BIN)/mscsim claims --json > out/.claims.json.tmp && mv out/.claims.json.tmp out/claims.json
	$(BIN)/mscsim report examples/sca_uc_msc_iv.toml --lang zh -o out/report_zh.pdf
	$(BIN)/mscsim report examples/sca_uc_msc_iv.toml --lang en -o out/report_en.html
	@echo "wrote out/sca_uc_msc_iv.csv and the figures in out/"

docs: demo
	$(BIN)/python docs/make_readme.py

test: $(DEV_STAMP) $(SYSTEM_STAMP)
	$(BIN)/ruff check src tests bench examples docs scripts
	$(BIN)/ruff format --check src tests bench examples docs scripts
	$(BIN)/mypy
	$(BIN)/python -m pytest -n 2 src tests

lint: $(DEV_STAMP)
	$(BIN)/ruff check src tests bench examples docs scripts
	$(BIN)/ruff format --check src tests bench examples docs scripts
	$(BIN)/mypy

bench: $(DEV_STAMP)
	-$(BIN)/python bench/nonlinear.py --repeats 3 --json docs/figures/bench_nonlinear.json
	-$(BIN)/python bench/engine.py --json docs/figures/bench_engine.json
	-$(BIN)/python bench/population.py --n-patients 20000 --n-scipy 5 --replicates 1000 --json docs/figures/bench_population.json
	-$(BIN)/python bench/seeding.py
	-$(BIN)/python bench/eig.py
	$(BIN)/python bench/startup.py

fuzz: $(DEV_STAMP)
	$(BIN)/python scripts/fuzz_cli.py --n 2000 --seed 0 --jobs 2 --out out/fuzz

clean:
	rm -rf $(VENV) out build dist .pytest_cache .mypy_cache .ruff_cache
