import type { LeanArm } from './lean-bench.js';
import type { PeerProcess } from './peers.js';
import type { GatehouseProcess } from './processes.js';

/** The lean comparison's arms: direct first, then each gateway on the HTTP and on the stdio downstream. */
export function leanArms(
  gatehouse: GatehouseProcess,
  keys: string[],
  sessionsPerKey: number,
  directUrl: string,
  peers: PeerProcess[],
): LeanArm[] {
  const endpoint = `${gatehouse.client}/mcp`;
  const bearer = (key: string | undefined) => ({ authorization: `Bearer ${key}` });
  const peer = (name: PeerProcess['name']) => {
    const found = peers.find((p) => p.name === name);
    if (!found) throw new Error(`peer ${name} is not running`);
    return found;
  };
  const civic = peer('civic-passthrough');
  const mcpProxy = peer('mcp-proxy');
  const gatehouseArm = (name: 'gatehouse' | 'gatehouse-stdio', tool: string): LeanArm => ({
    name,
    downstream: name === 'gatehouse' ? 'streamable-http' : 'stdio',
    kind: 'gatehouse',
    pid: gatehouse.pid,
    target: (i) => ({ url: endpoint, headers: bearer(keys[i]), tool }),
    idleTarget: (i) => ({ url: endpoint, headers: bearer(keys[Math.floor(i / sessionsPerKey)]), tool }),
  });
  return [
    {
      name: 'direct',
      downstream: 'streamable-http',
      kind: 'direct',
      target: () => ({ url: directUrl, headers: {}, tool: 'echo' }),
    },
    gatehouseArm('gatehouse', 'bench__echo'),
    {
      name: 'civic-passthrough',
      downstream: 'streamable-http',
      kind: 'peer',
      pid: civic.pid,
      target: () => ({ url: civic.url, headers: civic.headers, tool: 'echo' }),
    },
    gatehouseArm('gatehouse-stdio', 'benchstdio__echo'),
    {
      name: 'mcp-proxy',
      downstream: 'stdio',
      kind: 'peer',
      pid: mcpProxy.pid,
      target: () => ({ url: mcpProxy.url, headers: mcpProxy.headers, tool: 'echo' }),
    },
  ];
}
