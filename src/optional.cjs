// Optional peer dependencies, loaded synchronously when first needed. Plain CommonJS on purpose:
// `require` works the same under the ESM and the CommonJS build, and resolves from this package's
// location, so the application's own copy is used (instrumentation must share the app's API).
'use strict';

/**
 * The application's `@opentelemetry/api`, or undefined when it is not installed.
 * @returns {typeof import('@opentelemetry/api') | undefined}
 */
function openTelemetryApi() {
  try {
    return require('@opentelemetry/api');
  } catch (err) {
    if (err && err.code === 'MODULE_NOT_FOUND') return undefined;
    throw err;
  }
}

module.exports = { openTelemetryApi };
