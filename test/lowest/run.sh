#!/usr/bin/env bash
# Runs the integration tests against the lowest pg and mysql2 the package declares it supports
# (the lower bounds of its peerDependencies), installed into .lowest/ and swapped in for the
# newest ones by vitest.config.ts (P2C_LOWEST). Part of `npm test`.
set -euo pipefail
cd "$(dirname "$0")/../.."
PG=$(node -p "require('./package.json').peerDependencies.pg.replace(/^\^/, '')")
MY=$(node -p "require('./package.json').peerDependencies.mysql2.replace(/^\^/, '')")
mkdir -p .lowest
[ -f .lowest/package.json ] || echo '{ "private": true }' > .lowest/package.json
have() { node -p "try { require('./.lowest/node_modules/$1/package.json').version } catch { '' }"; }
if [ "$(have pg)" != "$PG" ] || [ "$(have mysql2)" != "$MY" ]; then
  npm install --prefix .lowest --no-audit --no-fund --prefer-offline --loglevel=error "pg@$PG" "mysql2@$MY"
fi
echo "integration tests against pg $(have pg) and mysql2 $(have mysql2)"
P2C_LOWEST=1 npx vitest run \
  test/integration/pg-compat.test.ts test/integration/drop-in.test.ts test/integration/routing.test.ts \
  test/integration/mysql.test.ts test/integration/safety-pg.test.ts test/integration/safety-mysql.test.ts \
  test/integration/consistency.test.ts test/integration/hedge-pg.test.ts test/integration/hedge-mysql.test.ts
