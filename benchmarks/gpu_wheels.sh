#!/usr/bin/env bash
# Fetch, as cp312 manylinux wheels into .whl/, the notebook toolchain that the
# lent GPU machine's image lacks (it has torch, numpy, sympy, matplotlib,
# pyyaml, requests, tqdm, pygments, attrs, click, packaging, psutil). Versions
# are those pinned in requirements.txt; decorator is not pinned there (IPython
# needs it, our venv gets it from elsewhere). Used by benchmarks/gpu_session.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
NAMES="papermill nbclient nbformat fastjsonschema jsonschema jsonschema-specifications referencing rpds-py
jupyter_client jupyter_core traitlets pyzmq tornado ipykernel ipython ipython_pygments_lexers jedi parso
prompt_toolkit wcwidth stack_data asttokens executing pure_eval matplotlib-inline pexpect ptyprocess comm
debugpy nest-asyncio2 entrypoints tenacity myst-nb docutils platformdirs"
specs="decorator==5.3.1"
for name in $NAMES; do
    pin=$(grep -i -E "^${name//[-_]/[-_]}==" requirements.txt || true)
    [ -n "$pin" ] || { echo "gpu_wheels: $name is not pinned in requirements.txt" >&2; exit 2; }
    specs="$specs $pin"
done
mkdir -p .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl $specs
echo "gpu_wheels: $(ls .whl | wc -l) wheels in .whl ($(du -sh .whl | cut -f1))"
