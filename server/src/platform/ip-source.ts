import { isIPv6 } from 'node:net';

/** The first four groups of an IPv6 address, expanded (`2001:db8:0:0`); undefined when it cannot be read. */
function prefix64(ip: string): string | undefined {
  const address = ip.split('%', 1)[0] ?? '';
  const [head = '', tail] = address.split('::', 2);
  const groupsOf = (part: string) => {
    const groups = part === '' ? [] : part.split(':');
    const last = groups.at(-1);
    // An embedded IPv4 tail (`::1.2.3.4`) stands for two groups.
    if (last?.includes('.')) {
      const octets = last.split('.').map(Number);
      groups.splice(-1, 1, (((octets[0] ?? 0) << 8) | (octets[1] ?? 0)).toString(16));
      groups.push((((octets[2] ?? 0) << 8) | (octets[3] ?? 0)).toString(16));
    }
    return groups;
  };
  const front = groupsOf(head);
  const back = tail === undefined ? [] : groupsOf(tail);
  const groups =
    tail === undefined ? front : [...front, ...Array(8 - front.length - back.length).fill('0'), ...back];
  if (groups.length !== 8) return undefined;
  return groups
    .slice(0, 4)
    .map((group) => Number.parseInt(group, 16).toString(16))
    .join(':');
}

/**
 * The source a throttle or the refusal audit counts a request under: an IPv4 address as it is (an
 * IPv4-mapped IPv6 address as its IPv4 form), an IPv6 address by its /64 (`2001:db8:0:0::/64`). One host
 * usually holds a whole /64, so counting per /128 would give an attacker 2^64 fresh addresses (ADR 0018).
 */
export function throttleSourceOf(ip: string): string {
  if (!isIPv6(ip)) return ip;
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (mapped?.[1]) return mapped[1];
  const prefix = prefix64(ip);
  return prefix === undefined ? ip : `${prefix}::/64`;
}
