import t from 'tap';
import { PROXY_V1_MAX_BYTES, PROXY_V2_SIGNATURE, readProxyHeader, type ProxyHeaderRead } from '../../src/downstream/proxy-protocol.js';

/**
 * The PROXY protocol parser against the layouts of haproxy's doc/proxy-protocol.txt, written out byte by
 * byte here (not produced by the code under test): version 1 lines and version 2 binary headers, then the
 * device's own bytes after them.
 */
const ascii = (s: string) => Buffer.from(s, 'latin1');
const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const SUBSCRIBE = ascii('{"id":1,"method":"mining.subscribe","params":[]}\n');

/** The v2 signature as the specification lists it: \x0D \x0A \x0D \x0A \x00 \x0D \x0A \x51 \x55 \x49 \x54 \x0A. */
const SIG = hex('0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A');

t.test('the v2 signature is the 12 bytes of the specification', async (t) => {
  t.same([...PROXY_V2_SIGNATURE], [...SIG]);
});

t.test('v1 TCP4: addresses and ports; the device bytes after the CRLF are not part of it', async (t) => {
  const line = ascii('PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n');
  const read = readProxyHeader(Buffer.concat([line, SUBSCRIBE]));
  t.same(read, {
    kind: 'header',
    header: { version: 1, command: 'proxy', family: 'inet', source: { address: '192.168.0.1', port: 56324 }, destination: { address: '192.168.0.11', port: 443 }, length: line.length },
  });
  t.equal(line.length, 47);
});

t.test('v1 TCP4 at its longest (56 bytes, the specification\'s figure)', async (t) => {
  const line = ascii('PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n');
  t.equal(line.length, 56);
  t.match(readProxyHeader(line), { kind: 'header', header: { source: { address: '255.255.255.255', port: 65535 }, length: 56 } });
});

t.test('v1 TCP6: addresses normalized to their compressed form', async (t) => {
  const line = ascii('PROXY TCP6 2001:DB8:0:0:0:0:0:1 ::1 4000 3333\r\n');
  t.same(readProxyHeader(line), {
    kind: 'header',
    header: { version: 1, command: 'proxy', family: 'inet6', source: { address: '2001:db8::1', port: 4000 }, destination: { address: '::1', port: 3333 }, length: line.length },
  });
  const longest = ascii(`PROXY TCP6 ${'ffff:'.repeat(7)}ffff ${'ffff:'.repeat(7)}ffff 65535 65535\r\n`);
  t.equal(longest.length, 104, 'the specification\'s longest TCP6 line');
  t.match(readProxyHeader(longest), { kind: 'header', header: { source: { address: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff' } } });
});

t.test('v1 UNKNOWN: short and long forms, no address to use (the connection\'s own)', async (t) => {
  const short = ascii('PROXY UNKNOWN\r\n');
  t.equal(short.length, 15);
  t.same(readProxyHeader(Buffer.concat([short, SUBSCRIBE])), { kind: 'header', header: { version: 1, command: 'proxy', family: 'unspec', source: null, destination: null, length: 15 } });
  const worst = ascii(`PROXY UNKNOWN ${'ffff:'.repeat(7)}ffff ${'ffff:'.repeat(7)}ffff 65535 65535\r\n`);
  t.equal(worst.length, PROXY_V1_MAX_BYTES, 'the worst case of the specification: 107 bytes');
  t.match(readProxyHeader(worst), { kind: 'header', header: { family: 'unspec', source: null, length: 107 } });
  t.match(readProxyHeader(ascii('PROXY UNKNOWN whatever is here\r\n')), { kind: 'header', header: { source: null } }, 'anything before the CRLF is ignored');
});

t.test('v1 lines that break the format are malformed', async (t) => {
  const bad: [string, RegExp][] = [
    ['PROXY TCP4 192.168.0.1 192.168.0.11 56324\r\n', /6/],
    ['PROXY TCP4 192.168.0.1  192.168.0.11 56324 443\r\n', /single spaces/],
    ['PROXY  TCP4 192.168.0.1 192.168.0.11 56324 443\r\n', /TCP4, TCP6 or UNKNOWN/],
    ['PROXY TCP5 192.168.0.1 192.168.0.11 56324 443\r\n', /TCP4, TCP6 or UNKNOWN/],
    ['PROXY TCP4 192.168.0.01 192.168.0.11 56324 443\r\n', /canonical IPv4/],
    ['PROXY TCP4 ::1 192.168.0.11 56324 443\r\n', /canonical IPv4/],
    ['PROXY TCP6 192.168.0.1 ::1 56324 443\r\n', /canonical IPv6/],
    ['PROXY TCP6 fe80::1%eth0 ::1 56324 443\r\n', /canonical IPv6/],
    ['PROXY TCP4 192.168.0.1 192.168.0.11 056324 443\r\n', /leading zeros/],
    ['PROXY TCP4 192.168.0.1 192.168.0.11 65536 443\r\n', /0 to 65535/],
    ['PROXY TCP4 192.168.0.1 192.168.0.11 56324 -1\r\n', /0 to 65535/],
    ['PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\n', /LF alone/],
    ['PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\rX', /CR not followed by LF/],
    ['PROXY TCP4 192.168.0.1\t192.168.0.11 56324 443\r\n', /printable/],
    ['PROXYTCP4 192.168.0.1 192.168.0.11 56324 443\r\n', /one space/],
  ];
  for (const [line, reason] of bad) t.match(readProxyHeader(ascii(line)), { kind: 'invalid', fault: 'malformed', reason }, JSON.stringify(line));
});

t.test('an over-long v1 line: no CRLF within 107 bytes is malformed, without waiting for more', async (t) => {
  const long = ascii(`PROXY UNKNOWN ${'x'.repeat(200)}\r\n`);
  t.match(readProxyHeader(long.subarray(0, 106)), { kind: 'incomplete', version: 1 });
  t.match(readProxyHeader(long.subarray(0, 107)), { kind: 'invalid', fault: 'malformed', reason: /107/ });
  t.match(readProxyHeader(long), { kind: 'invalid', fault: 'malformed' });
  // 108 bytes with the CRLF last: one byte too many.
  const by1 = ascii(`PROXY UNKNOWN ${'x'.repeat(92)}\r\n`);
  t.equal(by1.length, 108);
  t.match(readProxyHeader(by1), { kind: 'invalid', fault: 'malformed', reason: /107/ });
});

/** v2 headers, byte by byte as the specification lays them out. */
const V2_TCP4 = Buffer.concat([
  SIG,
  hex('21'), // version 2, command PROXY
  hex('11'), // AF_INET, STREAM
  hex('00 0C'), // 12 address bytes
  hex('C0 A8 00 01'), // 192.168.0.1
  hex('C0 A8 00 0B'), // 192.168.0.11
  hex('DC 04'), // 56324
  hex('01 BB'), // 443
]);
const V2_TCP6 = Buffer.concat([
  SIG,
  hex('21 21 00 24'), // PROXY, AF_INET6 STREAM, 36 bytes
  hex('20 01 0D B8 00 00 00 00 00 00 00 00 00 00 00 01'), // 2001:db8::1
  hex('00 00 00 00 00 00 00 00 00 00 FF FF 0A 00 00 05'), // ::ffff:10.0.0.5
  hex('0F A0 0D 05'), // 4000, 3333
]);

t.test('v2 PROXY over TCP4, then the device bytes', async (t) => {
  t.equal(V2_TCP4.length, 28);
  t.same(readProxyHeader(Buffer.concat([V2_TCP4, SUBSCRIBE])), {
    kind: 'header',
    header: { version: 2, command: 'proxy', family: 'inet', source: { address: '192.168.0.1', port: 56324 }, destination: { address: '192.168.0.11', port: 443 }, length: 28 },
  });
});

t.test('v2 PROXY over TCP6 (an IPv4-mapped destination written as such)', async (t) => {
  t.same(readProxyHeader(V2_TCP6), {
    kind: 'header',
    header: { version: 2, command: 'proxy', family: 'inet6', source: { address: '2001:db8::1', port: 4000 }, destination: { address: '::ffff:10.0.0.5', port: 3333 }, length: 52 },
  });
});

t.test('v2 TLVs after the addresses are skipped: the header ends where the length says', async (t) => {
  const tlvs = hex('01 00 02 68 32' + '04 00 03 00 00 00' + '05 00 04 DE AD BE EF'); // ALPN "h2", NOOP, UNIQUE_ID
  const header = Buffer.concat([SIG, hex('21 11'), hex((12 + tlvs.length).toString(16).padStart(4, '0')), V2_TCP4.subarray(16), tlvs]);
  t.match(readProxyHeader(Buffer.concat([header, SUBSCRIBE])), { kind: 'header', header: { source: { address: '192.168.0.1' }, length: header.length } });
});

t.test('v2 LOCAL: the family and addresses are ignored (the balancer\'s own connection)', async (t) => {
  const local = Buffer.concat([SIG, hex('20 00 00 00')]);
  t.same(readProxyHeader(Buffer.concat([local, SUBSCRIBE])), { kind: 'header', header: { version: 2, command: 'local', family: 'unspec', source: null, destination: null, length: 16 } });
  const withAddresses = Buffer.concat([SIG, hex('20 11 00 0C'), V2_TCP4.subarray(16)]);
  t.match(readProxyHeader(withAddresses), { kind: 'header', header: { command: 'local', source: null, length: 28 } }, 'LOCAL with an address block: skipped');
  const oddFamily = Buffer.concat([SIG, hex('20 F0 00 00')]);
  t.match(readProxyHeader(oddFamily), { kind: 'header', header: { command: 'local' } }, 'LOCAL: even an unassigned family is ignored');
});

t.test('v2 PROXY with UNSPEC or UNIX: no IP address to use', async (t) => {
  t.match(readProxyHeader(Buffer.concat([SIG, hex('21 00 00 00')])), { kind: 'header', header: { command: 'proxy', family: 'unspec', source: null, length: 16 } });
  const unix = Buffer.concat([SIG, hex('21 31 00 D8'), Buffer.alloc(108, 0x61), Buffer.alloc(108, 0x62)]);
  t.equal(unix.length, 16 + 216);
  t.match(readProxyHeader(unix), { kind: 'header', header: { family: 'unix', source: null, length: 232 } });
  t.match(readProxyHeader(Buffer.concat([SIG, hex('21 10 00 0C'), V2_TCP4.subarray(16)])), { kind: 'header', header: { family: 'inet', source: null } }, 'INET with an UNSPEC transport');
  t.match(readProxyHeader(Buffer.concat([SIG, hex('21 12 00 0C'), V2_TCP4.subarray(16)])), { kind: 'header', header: { source: { address: '192.168.0.1' } } }, 'INET over DGRAM keeps its addresses');
});

t.test('v2 unknown version, command, family or transport: unsupported', async (t) => {
  const cases: [string, RegExp][] = [
    ['11 11 00 0C', /version 1 after the version 2 signature/],
    ['31 11 00 0C', /version 3/],
    ['22 11 00 0C', /command 0x2/],
    ['2F 11 00 0C', /command 0xf/],
    ['21 41 00 0C', /family 0x4/],
    ['21 13 00 0C', /transport protocol 0x3/],
  ];
  for (const [bytes, reason] of cases) {
    t.match(readProxyHeader(Buffer.concat([SIG, hex(bytes), V2_TCP4.subarray(16)])), { kind: 'invalid', fault: 'unsupported', reason }, bytes);
  }
  t.match(readProxyHeader(Buffer.concat([SIG, hex('31')])), { kind: 'invalid', fault: 'unsupported' }, 'refused at the 13th byte, without waiting for the rest');
});

t.test('v2 address block shorter than its family needs: malformed', async (t) => {
  t.match(readProxyHeader(Buffer.concat([SIG, hex('21 11 00 08'), V2_TCP4.subarray(16, 24)])), { kind: 'invalid', fault: 'malformed', reason: /8 address bytes, fewer than the 12/ });
  t.match(readProxyHeader(Buffer.concat([SIG, hex('21 21 00 0C'), V2_TCP4.subarray(16)])), { kind: 'invalid', fault: 'malformed', reason: /36/ });
});

t.test('a wrong signature: not a header (the bytes are the device\'s); a stratum line is not one either', async (t) => {
  t.same(readProxyHeader(SUBSCRIBE), { kind: 'absent' });
  const wrong = Buffer.from(SIG);
  wrong[7] = 0x52; // QUIT -> RUIT
  t.same(readProxyHeader(Buffer.concat([wrong, hex('21 11 00 0C'), V2_TCP4.subarray(16)])), { kind: 'absent' });
  t.same(readProxyHeader(ascii('PROX{"id":1}\n')), { kind: 'absent' });
  t.same(readProxyHeader(ascii('\r\n{"id":1}\n')), { kind: 'absent' }, 'a blank line first is not the v2 signature');
});

t.test('truncated at every byte: each prefix asks for more, never decides early', async (t) => {
  const headers: [string, Buffer, 1 | 2][] = [
    ['v1 TCP4', ascii('PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n'), 1],
    ['v1 TCP6', ascii('PROXY TCP6 2001:db8::1 ::1 4000 3333\r\n'), 1],
    ['v1 UNKNOWN', ascii('PROXY UNKNOWN\r\n'), 1],
    ['v2 TCP4', V2_TCP4, 2],
    ['v2 TCP6', V2_TCP6, 2],
    ['v2 LOCAL', Buffer.concat([SIG, hex('20 00 00 00')]), 2],
  ];
  for (const [name, header, version] of headers) {
    const identifiedAt = version === 1 ? 5 : 12;
    const reads: ProxyHeaderRead[] = [];
    for (let n = 0; n < header.length; n++) reads.push(readProxyHeader(header.subarray(0, n)));
    t.ok(
      reads.every((r, n) => r.kind === 'incomplete' && r.version === (n < identifiedAt ? null : version)),
      `${name}: every one of its ${header.length} prefixes is incomplete (the version known from byte ${identifiedAt})`,
    );
    t.match(readProxyHeader(header), { kind: 'header', header: { version, length: header.length } }, `${name}: whole at ${header.length} bytes`);
  }
});
