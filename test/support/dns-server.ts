// A DNS server for discovery tests (dns2, UDP on loopback): A and SRV records that a test changes
// while the pool runs. Stopped by the test (close()); it holds no process of its own.

import dns2 from 'dns2';

const { Packet } = dns2;

export interface TestDns {
  /** `127.0.0.1:PORT`, for `dnsDiscovery({ servers })`. */
  readonly server: string;
  /** Sets the A records of `name` (replaces them; [] answers no address). */
  setA(name: string, addresses: readonly string[]): void;
  /** Sets the SRV records of `name`: targets with ports. */
  setSrv(name: string, targets: readonly { target: string; port: number }[]): void;
  /** Questions answered so far. */
  readonly queries: number;
  close(): Promise<void>;
}

export async function startDns(): Promise<TestDns> {
  const a = new Map<string, readonly string[]>();
  const srv = new Map<string, readonly { target: string; port: number }[]>();
  let queries = 0;
  const server = dns2.createServer({
    udp: true,
    handle: (request, send) => {
      queries++;
      const response = Packet.createResponseFromRequest(request);
      const question = request.questions[0];
      if (question) {
        const name = question.name.toLowerCase();
        if (question.type === Packet.TYPE.A) {
          for (const address of a.get(name) ?? []) response.answers.push({ name: question.name, type: Packet.TYPE.A, class: Packet.CLASS.IN, ttl: 1, address } as never);
        } else if (question.type === Packet.TYPE.SRV) {
          for (const r of srv.get(name) ?? []) {
            response.answers.push({ name: question.name, type: Packet.TYPE.SRV, class: Packet.CLASS.IN, ttl: 1, priority: 0, weight: 1, port: r.port, target: r.target } as never);
          }
        }
      }
      send(response);
    },
  });
  await server.listen({ udp: { port: 0, address: '127.0.0.1' } });
  const port = (server.addresses() as { udp: { port: number } }).udp.port;
  return {
    server: `127.0.0.1:${port}`,
    setA: (name, addresses) => void a.set(name.toLowerCase(), [...addresses]),
    setSrv: (name, targets) => void srv.set(name.toLowerCase(), [...targets]),
    get queries() { return queries; },
    close: async () => { await server.close(); },
  };
}
