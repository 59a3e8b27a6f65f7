// GTID positions for read-your-writes: MariaDB's domain-server-seq lists compared locally,
// MySQL's uuid:interval sets left to the server (GTID_SUBSET).

/** MariaDB GTID position, e.g. "0-1-100,1-2-7", as domain -> [server, seq]. */
export function parseMariaGtid(pos: string): Map<number, { server: number; seq: bigint }> | undefined {
  const out = new Map<number, { server: number; seq: bigint }>();
  if (pos.trim() === '') return out;
  for (const part of pos.split(',')) {
    const m = /^\s*(\d+)-(\d+)-(\d+)\s*$/.exec(part);
    if (!m) return undefined;
    out.set(Number(m[1]), { server: Number(m[2]), seq: BigInt(m[3]!) });
  }
  return out;
}

function formatMariaGtid(map: Map<number, { server: number; seq: bigint }>): string {
  return [...map.entries()].sort((a, b) => a[0] - b[0]).map(([d, { server, seq }]) => `${d}-${server}-${seq}`).join(',');
}

const MYSQL_GTID_SET = /^\s*[0-9a-f-]{36}(:[^,\s]+)+(\s*,\s*[0-9a-f-]{36}(:[^,\s]+)+)*\s*$/i;

/** True/false for MariaDB positions; undefined (ask the server) otherwise. */
export function gtidReached(have: string, need: string): boolean | undefined {
  const h = parseMariaGtid(have);
  const n = parseMariaGtid(need);
  if (!h || !n) return undefined;
  for (const [domain, { seq }] of n) {
    const got = h.get(domain);
    if (!got || got.seq < seq) return false;
  }
  return true;
}

/** Per-domain maximum for MariaDB; for MySQL sets the later one (the primary's gtid_executed only grows). */
export function mergeGtid(a: string | undefined, b: string): string {
  if (a === undefined || a === '') return b;
  const x = parseMariaGtid(a);
  const y = parseMariaGtid(b);
  if (!x || !y) return b;
  for (const [d, v] of y) {
    const cur = x.get(d);
    if (!cur || cur.seq < v.seq) x.set(d, v);
  }
  return formatMariaGtid(x);
}

export function parseGtidToken(token: string): string | undefined {
  if (parseMariaGtid(token) && token.trim() !== '') return token.trim();
  return MYSQL_GTID_SET.test(token) ? token.trim() : undefined;
}
