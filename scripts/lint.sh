#!/usr/bin/env bash
# Lint, format check and type check, as .ci/run runs them before the tests.
#  * ruff (rules and format in pyproject.toml) over the whole tree;
#  * mypy over the *installed* package: the folders bounds/, simulate/, empirical/ and
#    paper_figs/ become steerbounds.* only when installed (package-dir mapping), so the
#    package is installed without dependencies into a temporary folder and checked there;
#    reported paths are mapped back to the repository's.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
ruff check .
ruff format --check .
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# a clean copy of the tracked and untracked-not-ignored files: a stale build/ folder would leak old files
mkdir -p "$tmp/src"
git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$tmp/src" 2>/dev/null || true
python -m pip install -q --disable-pip-version-check --root-user-action=ignore --no-deps \
    --target "$tmp/site" "$tmp/src" >/dev/null
cd "$tmp/site"
status=0
python -m mypy --config-file "$repo/pyproject.toml" -p steerbounds >"$tmp/mypy.out" 2>&1 || status=$?
sed -e 's#^steerbounds/bounds/#bounds/#' -e 's#^steerbounds/simulate/#simulate/#' \
    -e 's#^steerbounds/empirical/#empirical/#' -e 's#^steerbounds/paper_figs/#paper_figs/#' "$tmp/mypy.out"
exit "$status"
