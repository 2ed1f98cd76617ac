#!/usr/bin/env bash
# The ctest entry of the browser test (test_browser_page): installs
# playwright-core at the version pinned in tools/browser/package-lock.json
# when it is missing or another version, then runs page.test.js against
# the coffee binary given. Screenshots and coffee's log go to ARTIFACTS.
# Skips (exit 77) only when node itself is missing; chromium missing is a
# failure (scripts/deps.sh installs it).
#
#   bash tests/browser/run.sh COFFEE_BIN ARTIFACTS
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tools="$here/../../tools/browser"
bin=${1:?usage: run.sh COFFEE_BIN ARTIFACTS}
artifacts=${2:?usage: run.sh COFFEE_BIN ARTIFACTS}

if ! command -v node >/dev/null 2>&1; then
    echo "run.sh: node is not installed: skipping the browser test"
    exit 77
fi
if [ ! -x /usr/bin/chromium ]; then
    echo "run.sh: /usr/bin/chromium is missing (bash scripts/deps.sh installs it)" >&2
    exit 1
fi
want=$(node -p "require('$tools/package.json').dependencies['playwright-core']")
have=$(node -p "try { require('$tools/node_modules/playwright-core/package.json').version } catch (e) { '' }")
if [ "$want" != "$have" ]; then
    echo "run.sh: installing playwright-core $want (npm ci in tools/browser)"
    (cd "$tools" && timeout 300 npm ci --no-audit --no-fund)
fi
mkdir -p "$artifacts"
exec timeout -k 10 280 node "$here/page.test.js" "$bin" "$artifacts"
