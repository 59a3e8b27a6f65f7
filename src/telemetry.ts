// OpenTelemetry through @opentelemetry/api only: a span per statement, lease and retry, and the
// database client metrics. Nothing here is created unless the `telemetry` option is set.

import type { Attributes, BatchObservableCallback, Link, Meter, MeterProvider, ProxyTracerProvider, Span, SpanContext, Tracer, TracerProvider } from '@opentelemetry/api';
import optional from './optional.cjs';
import { ConfigError } from './errors.js';
import type { Endpoint, TelemetryOptions } from './config.js';
import type { Host, HostState } from './host.js';
import type { Cluster } from './pool.js';
import type { PickerName } from './picker.js';
import { operationName, type SqlDialect } from './routing.js';

/** One statement's span and duration measurement. */
export interface QueryTrace {
  readonly spanContext: SpanContext;
  end(err?: Error): void;
}

const STATES: readonly HostState[] = ['up', 'ejected', 'probing', 'down', 'closed'];
const POOL_NAME = 'p2c-pool';
/**
 * The span context of an attempt that had no span (telemetry on, no tracer SDK yet): the API's
 * invalid context. A retry or hedge of it is still marked as one; it is never linked to it.
 */
export const UNTRACED: SpanContext = Object.freeze({ traceId: '0'.repeat(32), spanId: '0'.repeat(16), traceFlags: 0 });

export class Telemetry {
  private readonly tracer: Tracer;
  private readonly meter: Meter;
  private readonly duration;
  private readonly ejections;
  private readonly retries;
  private readonly hedges;

  private readonly api: typeof import('@opentelemetry/api');
  /**
   * The API's global tracer provider while no SDK stands behind it (then every span would be a
   * no-op): statements start no span until an SDK registers, which is checked on every statement.
   * Undefined once one has, or when the app gave a provider.
   */
  private withoutSdk: ProxyTracerProvider | undefined;
  /** False when the meter is the API's no-op meter (no MeterProvider was registered before the pool). */
  private readonly metering: boolean;

  constructor(private readonly options: TelemetryOptions, private readonly endpoint: (host: Host<unknown>) => Endpoint, private readonly picker: PickerName, private readonly dialect: SqlDialect = 'postgres') {
    const api = optional.openTelemetryApi();
    if (!api) throw new ConfigError('telemetry', 'needs the package @opentelemetry/api (npm install @opentelemetry/api)');
    this.api = api;
    const tracerProvider = (options.tracerProvider as TracerProvider | undefined) ?? api.trace.getTracerProvider();
    this.tracer = tracerProvider.getTracer(POOL_NAME);
    this.withoutSdk = tracerProvider instanceof api.ProxyTracerProvider ? tracerProvider : undefined;
    this.meter = ((options.meterProvider as MeterProvider | undefined) ?? api.metrics.getMeterProvider()).getMeter(POOL_NAME);
    // The metrics API has no proxy: a meter taken before any MeterProvider was registered stays
    // the no-op meter for the life of the pool.
    this.metering = typeof api.createNoopMeter !== 'function' || Object.getPrototypeOf(this.meter) !== Object.getPrototypeOf(api.createNoopMeter());
    this.duration = this.meter.createHistogram('db.client.operation.duration', {
      unit: 's', description: 'Duration of database client operations.',
      advice: { explicitBucketBoundaries: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10] },
    });
    this.ejections = this.meter.createCounter('p2c.host.ejections', { description: 'Hosts ejected by the health state machine.' });
    this.retries = this.meter.createCounter('p2c.retries', { description: 'Reads retried on another host after a host failure.' });
    this.hedges = this.meter.createCounter('p2c.hedges', { description: 'Hedged reads: second requests sent to another replica.' });
  }

  /** Registers the observable gauges of a cluster: connections by state, pending requests, per-host state. */
  observe(cluster: Cluster<unknown>): void {
    const connections = this.meter.createObservableUpDownCounter('db.client.connection.count', { unit: '{connection}', description: 'Connections by state.' });
    const pending = this.meter.createObservableUpDownCounter('db.client.connection.pending_requests', { unit: '{request}', description: 'Requests waiting for a connection.' });
    const latency = this.meter.createObservableGauge('p2c.host.latency', { unit: 'ms', description: 'Latency estimate of a host (time-weighted mean of response times).' });
    const errorRate = this.meter.createObservableGauge('p2c.host.error_rate', { description: 'Error EWMA of a host, 0..1.' });
    const state = this.meter.createObservableGauge('p2c.host.state', { description: '1 for the state a host is in, 0 for the others.' });
    const observables = [connections, pending, latency, errorRate, state];
    const callback: BatchObservableCallback = (result) => {
      for (const h of cluster.stats().hosts) {
        const host = cluster.hosts.find((x) => x.name === h.name)!;
        const base = { ...this.serverAttributes(host), 'db.client.connection.pool.name': h.name };
        result.observe(connections, h.idle, { ...base, 'db.client.connection.state': 'idle' });
        result.observe(connections, h.total - h.idle, { ...base, 'db.client.connection.state': 'used' });
        result.observe(pending, h.waiting, base);
        if (h.latencyMs !== null) result.observe(latency, h.latencyMs, { ...base, 'p2c.role': h.role });
        result.observe(errorRate, h.errorRate, { ...base, 'p2c.role': h.role });
        for (const s of STATES) result.observe(state, s === h.state ? 1 : 0, { ...base, 'p2c.state': s });
      }
    };
    this.meter.addBatchObservableCallback(callback, observables);
    this.unobserve = () => this.meter.removeBatchObservableCallback(callback, observables);
  }

  private unobserve: (() => void) | undefined;

  /** The pool has ended: its gauges are no longer reported (the meter would keep the cluster alive). */
  close(): void {
    this.unobserve?.();
    this.unobserve = undefined;
  }

  /** Whether spans are recorded: false while the global tracer provider has no SDK behind it. */
  private tracing(): boolean {
    const proxy = this.withoutSdk;
    if (proxy === undefined) return true;
    if (proxy.getDelegateTracer(POOL_NAME) === undefined) return false;
    this.withoutSdk = undefined;
    return true;
  }

  /**
   * Whether a statement's span or measurement would reach anyone. When not (telemetry on, no SDK),
   * the executor runs statements as with telemetry off.
   */
  active(): boolean {
    return this.metering || this.tracing();
  }

  /**
   * Starts the span of one attempt; `retryOf` links a retry to the attempt that failed, or a
   * hedge (`hedge` true) to the attempt it races.
   */
  startQuery(host: Host<unknown>, text: string | undefined, candidates: number, cost: number, retryOf?: SpanContext, hedge = false): QueryTrace {
    const operation = text === undefined ? undefined : operationName(text, this.dialect);
    if (!this.tracing()) return this.measureOnly(host, operation, retryOf !== undefined, hedge);
    const e = this.endpointOf(host);
    // One literal of a fixed shape per statement (no spreads): this runs for every query.
    const attributes: Attributes = {
      'db.system.name': e.system,
      'server.address': e.address,
      'server.port': e.port,
      'p2c.role': host.role,
      'p2c.picker': this.picker,
      'p2c.candidates': candidates,
      'p2c.cost': cost,
      'p2c.host': host.name,
    };
    if (e.database) attributes['db.namespace'] = e.database;
    if (operation) attributes['db.operation.name'] = operation;
    if (this.options.queryText && text !== undefined) attributes['db.query.text'] = text;
    const links: Link[] | undefined = retryOf !== undefined && retryOf !== UNTRACED ? [{ context: retryOf, attributes: { 'p2c.link': hedge ? 'hedge-of' : 'retry-of' } }] : undefined;
    if (hedge) {
      attributes['p2c.hedge'] = true;
      this.hedges.add(1, this.serverAttributes(host));
    } else if (retryOf) {
      attributes['p2c.retry'] = true;
      this.retries.add(1, this.serverAttributes(host));
    }
    const span = this.tracer.startSpan(operation ?? 'query', links === undefined ? { kind: this.api.SpanKind.CLIENT, attributes } : { kind: this.api.SpanKind.CLIENT, attributes, links });
    const start = performance.now();
    return {
      spanContext: span.spanContext(),
      end: (err) => {
        if (err) recordError(span, err);
        this.recordDuration(host, operation, start, err);
        span.end();
      },
    };
  }

  /** Without a span (no tracer SDK): the duration and the retry and hedge counters only. */
  private measureOnly(host: Host<unknown>, operation: string | undefined, retry: boolean, hedge: boolean): QueryTrace {
    if (hedge) this.hedges.add(1, this.serverAttributes(host));
    else if (retry) this.retries.add(1, this.serverAttributes(host));
    const start = performance.now();
    return {
      spanContext: UNTRACED,
      end: (err) => this.recordDuration(host, operation, start, err),
    };
  }

  private recordDuration(host: Host<unknown>, operation: string | undefined, start: number, err: Error | undefined): void {
    let metricAttributes = this.durationAttributes(host, operation);
    if (err) metricAttributes = { ...metricAttributes, 'error.type': errorType(err) };
    try {
      this.duration.record((performance.now() - start) / 1000, metricAttributes);
    } catch {
      // A meter that fails (or writes into frozen attributes) loses its record, never the query.
    }
  }

  /** A span covering a leased connection, from lease to release; none while no tracer SDK is registered. */
  startLease(host: Host<unknown>): ((err?: Error) => void) | undefined {
    if (!this.tracing()) return undefined;
    const span = this.tracer.startSpan('connection lease', {
      kind: this.api.SpanKind.CLIENT,
      attributes: { ...this.serverAttributes(host), 'p2c.role': host.role, 'p2c.host': host.name, 'p2c.picker': this.picker },
    });
    return (err) => {
      if (err) recordError(span, err);
      span.end();
    };
  }

  hostStateChanged(host: Host<unknown>, to: HostState): void {
    if (to === 'ejected') this.ejections.add(1, this.serverAttributes(host));
  }

  /** A host's endpoint never changes: asked once per host. */
  private endpointOf(host: Host<unknown>): Endpoint {
    let e = this.endpoints.get(host);
    if (e === undefined) {
      e = this.endpoint(host);
      this.endpoints.set(host, e);
    }
    return e;
  }

  private readonly endpoints = new WeakMap<Host<unknown>, Endpoint>();
  /** The duration histogram's attributes of a successful statement, per host and operation (kept, read-only). */
  private readonly durations = new WeakMap<Host<unknown>, Map<string, Attributes>>();

  private durationAttributes(host: Host<unknown>, operation: string | undefined): Attributes {
    let perHost = this.durations.get(host);
    if (perHost === undefined) this.durations.set(host, (perHost = new Map()));
    const key = operation ?? '';
    let attributes = perHost.get(key);
    if (attributes === undefined) {
      const fresh = this.serverAttributes(host);
      if (operation) fresh['db.operation.name'] = operation;
      // Shared by every record of this host and operation: frozen, so a meter that writes into
      // the attributes it is given cannot change later records (the write fails instead).
      attributes = Object.freeze(fresh);
      // Operation names come from statement texts: bounded like the classifier's cache.
      if (perHost.size >= 256) perHost.clear();
      perHost.set(key, attributes);
    }
    return attributes;
  }

  private serverAttributes(host: Host<unknown>): Attributes {
    const e = this.endpointOf(host);
    const attributes: Attributes = { 'db.system.name': e.system, 'server.address': e.address, 'server.port': e.port };
    if (e.database) attributes['db.namespace'] = e.database;
    return attributes;
  }
}

function errorType(err: Error): string {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' || typeof code === 'number' ? String(code) : err.name;
}

/** SpanStatusCode.ERROR of the OpenTelemetry API (a stable value of its specification). */
const STATUS_ERROR = 2;

function recordError(span: Span, err: Error): void {
  span.setStatus({ code: STATUS_ERROR, message: err.message });
  span.setAttribute('error.type', errorType(err));
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) span.setAttribute('db.response.status_code', code);
  const errno = (err as { errno?: unknown }).errno;
  if (typeof errno === 'number') span.setAttribute('db.response.status_code', String(errno));
}
