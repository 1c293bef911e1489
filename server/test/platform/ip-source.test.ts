import { describe, expect, it } from 'vitest';
import { throttleSourceOf } from '../../src/platform/ip-source.js';

describe('throttleSourceOf: the source a throttle counts a request under', () => {
  it('keeps IPv4 addresses, and IPv4-mapped IPv6 addresses as IPv4', () => {
    expect(throttleSourceOf('203.0.113.9')).toBe('203.0.113.9');
    expect(throttleSourceOf('::ffff:203.0.113.9')).toBe('203.0.113.9');
  });

  it('counts every address of one IPv6 /64 as one source, however it is written', () => {
    const sources = [
      '2001:db8:aa:1::1',
      '2001:0db8:00aa:0001:ffff:ffff:ffff:ffff',
      '2001:db8:aa:1:1234:5678:9abc:def0',
      '2001:db8:aa:1::10.0.0.1',
      '2001:db8:aa:1::1%eth0',
    ].map(throttleSourceOf);
    expect(new Set(sources)).toEqual(new Set(['2001:db8:aa:1::/64']));
    expect(throttleSourceOf('2001:db8:aa:2::1')).toBe('2001:db8:aa:2::/64');
    expect(throttleSourceOf('::1')).toBe('0:0:0:0::/64');
    expect(throttleSourceOf('fe80::')).toBe('fe80:0:0:0::/64');
  });
});
