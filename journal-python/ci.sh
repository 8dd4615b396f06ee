#!/usr/bin/env bash
# The Python package's gate (called by .ci/run after the Rust tests): build the package into a
# virtual environment under target/ (kept between runs, ignored by git), then run its pytest suite
# against the real `journal` binary. pytest's exit 5 (no test collected) is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=target/py-venv
REQS=("maturin>=1.5,<2" "pytest>=7,<10" "numpy>=1.23,<3" "pyarrow>=14,<30" "pandas>=2,<4" "polars>=0.20,<3")
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
STAMP="$VENV/.journal-reqs"
if [ "$(cat "$STAMP" 2>/dev/null)" != "${REQS[*]}" ]; then
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${REQS[@]}"
    echo "${REQS[*]}" > "$STAMP"
fi
# The `journal` binary the tests run: the one `cargo test --workspace` builds (the same features,
# so after .ci/run's test step this builds nothing).
cargo test --workspace --no-run --quiet
# The tests' set writer (the command-line tool does not write sets): the library's SetWriter.
cargo build --quiet -p journal-python --example make_set
# maturin installs the package (abi3 extension and python/journal) into the venv.
VIRTUAL_ENV="$PWD/$VENV" PATH="$PWD/$VENV/bin:$PATH" \
    "$VENV/bin/maturin" develop --quiet -m journal-python/Cargo.toml
status=0
JOURNAL_BIN="$PWD/target/debug/journal" MAKE_SET_BIN="$PWD/target/debug/examples/make_set" \
    "$VENV/bin/python" -m pytest -q -p no:cacheprovider \
    journal-python/tests || status=$?
if [ "$status" -eq 5 ]; then
    echo "journal-python: pytest collected no tests" >&2
    exit 1
fi
exit "$status"
