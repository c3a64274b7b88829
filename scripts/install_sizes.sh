#!/usr/bin/env bash
# What each install line costs: a throwaway venv per line under ${OUT:-/tmp/plait-install-sizes},
# installed from pip's cache (llama-cpp-python's wheel included, once built), then measured:
# seconds, packages, MB of site-packages, and the biggest packages of the core install.
#   scripts/install_sizes.sh            # core, local, notebook, dense, ray, postgres, test
#   scripts/install_sizes.sh core local # only those
# Each venv is deleted after it is measured. Numbers go to stdout as a markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/plait-install-sizes}"
PY="${PYTHON:-python3}"
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON}"
LINES=("$@")
[ ${#LINES[@]} -gt 0 ] || LINES=(core local notebook dense ray postgres test)
mkdir -p "$OUT"
echo "| install line | seconds | packages | MB on disk |"
echo "|---|---:|---:|---:|"
for line in "${LINES[@]}"; do
  venv="$OUT/$line"
  rm -rf "$venv" && "$PY" -m venv "$venv"
  spec="."; [ "$line" = core ] || spec=".[$line]"
  start=$(date +%s)
  "$venv/bin/python" -m pip install --quiet "$spec" >"$OUT/$line.log" 2>&1 || { echo "| $line | failed: see $OUT/$line.log | | |"; continue; }
  seconds=$(( $(date +%s) - start ))
  site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  packages=$(( $("$venv/bin/python" -m pip list --format=freeze 2>/dev/null | wc -l) ))
  mb=$(du -sm "$site" | cut -f1)
  echo "| \`pip install '$spec'\` | $seconds | $packages | $mb |"
  if [ "$line" = core ]; then  # the biggest packages of the core install, for the README
    du -sm "$site"/* | sort -rn | head -12 | awk '{n=split($2,p,"/"); printf "core: %5d MB  %s\n", $1, p[n]}' >"$OUT/core-biggest.txt"
  fi
  rm -rf "$venv"
done
[ ! -f "$OUT/core-biggest.txt" ] || cat "$OUT/core-biggest.txt"
