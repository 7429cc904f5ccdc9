import { SocketAddress, isIPv4, isIPv6 } from 'node:net';

/**
 * The PROXY protocol header a load balancer (HAProxy `send-proxy` / `send-proxy-v2`) puts in front of a
 * device's bytes, read from the specification (haproxy's doc/proxy-protocol.txt): version 1, one text line
 * `PROXY TCP4|TCP6|UNKNOWN ...\r\n` of at most 107 bytes; version 2, a 12-byte signature, version and
 * command, family and transport, a length, the addresses and TLVs (skipped).
 *
 * Pure and incremental: `readProxyHeader(bytes)` takes every byte received so far and says whether more are
 * needed, that no header is there (the bytes belong to the device), the header (its length: what follows is
 * the device's), or why it is refused. No socket, no state.
 */
export interface ProxyEndpoint {
  address: string;
  port: number;
}

export interface ProxyHeader {
  version: 1 | 2;
  /** 'proxy': relayed for a client; 'local': the balancer's own connection (a health check). */
  command: 'proxy' | 'local';
  /** The connection's family as announced (v1 TCP4/TCP6/UNKNOWN map to inet/inet6/unspec). */
  family: 'inet' | 'inet6' | 'unix' | 'unspec';
  /**
   * The client's address, or null when the header carries none to use (LOCAL, UNKNOWN, UNSPEC, UNIX): the
   * receiver then uses the connection's own peer address, as the specification says.
   */
  source: ProxyEndpoint | null;
  destination: ProxyEndpoint | null;
  /** Bytes the header takes; the device's bytes start here. */
  length: number;
}

/** Why a header is refused: it breaks the format, or it is well-formed but asks for what we do not support. */
export type ProxyHeaderFault = 'malformed' | 'unsupported';

export type ProxyHeaderRead =
  /** More bytes are needed; `version` once the signature says which (null: not even that yet). */
  | { kind: 'incomplete'; version: 1 | 2 | null }
  /** The bytes do not start a PROXY header. */
  | { kind: 'absent' }
  | { kind: 'header'; header: ProxyHeader }
  | { kind: 'invalid'; fault: ProxyHeaderFault; reason: string };

/** The version 2 signature: \r\n\r\n\0\r\nQUIT\n. */
export const PROXY_V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_SIGNATURE = Buffer.from('PROXY', 'latin1');
/** The longest version 1 line, CRLF included ("PROXY UNKNOWN" with two full IPv6 addresses and ports). */
export const PROXY_V1_MAX_BYTES = 107;
/** Signature, version/command, family/transport, length. */
const V2_FIXED_BYTES = 16;
/** Bytes of the address block each v2 family needs at least (addresses, then ports for INET and INET6). */
const V2_ADDRESS_BYTES = { inet: 12, inet6: 36, unix: 216 } as const;
const V2_FAMILIES = ['unspec', 'inet', 'inet6', 'unix'] as const;

const INCOMPLETE_UNKNOWN: ProxyHeaderRead = { kind: 'incomplete', version: null };
const INCOMPLETE_V1: ProxyHeaderRead = { kind: 'incomplete', version: 1 };
const INCOMPLETE_V2: ProxyHeaderRead = { kind: 'incomplete', version: 2 };
const ABSENT: ProxyHeaderRead = { kind: 'absent' };

const invalid = (fault: ProxyHeaderFault, reason: string): ProxyHeaderRead => ({ kind: 'invalid', fault, reason });

/** True while `bytes` agree with `signature` as far as both go. */
function agrees(bytes: Uint8Array, signature: Uint8Array): boolean {
  const n = Math.min(bytes.length, signature.length);
  for (let i = 0; i < n; i++) if (bytes[i] !== signature[i]) return false;
  return true;
}

/** Read a PROXY header from the first bytes of a connection (everything received so far). */
export function readProxyHeader(bytes: Uint8Array): ProxyHeaderRead {
  if (bytes.length === 0) return INCOMPLETE_UNKNOWN;
  if (agrees(bytes, PROXY_V2_SIGNATURE)) return bytes.length < PROXY_V2_SIGNATURE.length ? INCOMPLETE_UNKNOWN : readV2(bytes);
  if (agrees(bytes, V1_SIGNATURE)) return bytes.length < V1_SIGNATURE.length ? INCOMPLETE_UNKNOWN : readV1(bytes);
  return ABSENT;
}

function readV1(bytes: Uint8Array): ProxyHeaderRead {
  if (bytes.length > V1_SIGNATURE.length && bytes[V1_SIGNATURE.length] !== 0x20) return invalid('malformed', 'a version 1 line must start with "PROXY " (one space)');
  const window = Math.min(bytes.length, PROXY_V1_MAX_BYTES);
  let end = -1;
  for (let i = 0; i < window; i++) {
    const b = bytes[i];
    if (b === 0x0d) {
      if (i + 2 > PROXY_V1_MAX_BYTES) break;
      if (i + 1 >= bytes.length) return INCOMPLETE_V1;
      if (bytes[i + 1] !== 0x0a) return invalid('malformed', 'a version 1 line has a CR not followed by LF');
      end = i;
      break;
    }
    if (b === 0x0a) return invalid('malformed', 'a version 1 line ends with LF alone (CRLF is required)');
    if (b! < 0x20 || b! > 0x7e) return invalid('malformed', `a version 1 line has byte 0x${b!.toString(16).padStart(2, '0')}, not printable US-ASCII`);
  }
  if (end < 0) return bytes.length < PROXY_V1_MAX_BYTES ? INCOMPLETE_V1 : invalid('malformed', `no CRLF within the first ${PROXY_V1_MAX_BYTES} bytes of a version 1 line`);
  const length = end + 2;
  const line = Buffer.from(bytes.buffer, bytes.byteOffset, end).toString('latin1');
  const fields = line.split(' ');
  const protocol = fields[1];
  // UNKNOWN: the rest of the line is ignored and the connection's own addresses are used.
  if (protocol === 'UNKNOWN') return { kind: 'header', header: { version: 1, command: 'proxy', family: 'unspec', source: null, destination: null, length } };
  if (protocol !== 'TCP4' && protocol !== 'TCP6') return invalid('malformed', `version 1 protocol ${JSON.stringify(protocol ?? '').slice(0, 16)} is not TCP4, TCP6 or UNKNOWN`);
  if (fields.length !== 6) return invalid('malformed', `a version 1 ${protocol} line has ${fields.length} fields separated by single spaces, not 6`);
  const family = protocol === 'TCP4' ? 'inet' : 'inet6';
  const source = v1Address(fields[2]!, family);
  const destination = v1Address(fields[3]!, family);
  if (source === null || destination === null) return invalid('malformed', `version 1 ${protocol} address ${JSON.stringify(source === null ? fields[2] : fields[3]).slice(0, 48)} is not a canonical ${family === 'inet' ? 'IPv4' : 'IPv6'} address`);
  const sourcePort = v1Port(fields[4]!);
  const destinationPort = v1Port(fields[5]!);
  if (sourcePort === null || destinationPort === null) return invalid('malformed', `version 1 port ${JSON.stringify(sourcePort === null ? fields[4] : fields[5])} is not 0 to 65535 without leading zeros`);
  return {
    kind: 'header',
    header: { version: 1, command: 'proxy', family, source: { address: source, port: sourcePort }, destination: { address: destination, port: destinationPort }, length },
  };
}

/** An address of a version 1 line in its family's canonical text (no leading zeros, no zone), normalized; or null. */
function v1Address(text: string, family: 'inet' | 'inet6'): string | null {
  if (family === 'inet') {
    if (!isIPv4(text) || text.split('.').some((n) => n.length > 1 && n.startsWith('0'))) return null;
    return text;
  }
  if (!/^[0-9A-Fa-f:.]+$/.test(text) || !isIPv6(text)) return null;
  return new SocketAddress({ address: text, family: 'ipv6' }).address;
}

function v1Port(text: string): number | null {
  if (!/^(0|[1-9][0-9]{0,4})$/.test(text)) return null;
  const port = Number(text);
  return port <= 65535 ? port : null;
}

function readV2(bytes: Uint8Array): ProxyHeaderRead {
  // Each fixed field is checked as soon as it arrives: a refusal need not wait for the rest.
  if (bytes.length <= 12) return INCOMPLETE_V2;
  const versionProblem = checkVersionCommand(bytes[12]!);
  if (versionProblem) return versionProblem;
  if (bytes.length <= 13) return INCOMPLETE_V2;
  const command = (bytes[12]! & 0x0f) === 0 ? 'local' : 'proxy';
  const familyNibble = bytes[13]! >> 4;
  const transport = bytes[13]! & 0x0f;
  // LOCAL: the family is ignored (the specification says so); PROXY: an unassigned family or transport is refused.
  if (command === 'proxy' && familyNibble >= V2_FAMILIES.length) return invalid('unsupported', `version 2 address family 0x${familyNibble.toString(16)} is not assigned`);
  if (command === 'proxy' && transport > 2) return invalid('unsupported', `version 2 transport protocol 0x${transport.toString(16)} is not assigned`);
  if (bytes.length < V2_FIXED_BYTES) return INCOMPLETE_V2;
  const addressLength = (bytes[14]! << 8) | bytes[15]!;
  const length = V2_FIXED_BYTES + addressLength;
  if (bytes.length < length) return INCOMPLETE_V2;
  const family = command === 'local' ? 'unspec' : V2_FAMILIES[familyNibble]!;
  if (family !== 'unspec' && addressLength < V2_ADDRESS_BYTES[family]) {
    return invalid('malformed', `version 2 ${family} header announces ${addressLength} address bytes, fewer than the ${V2_ADDRESS_BYTES[family]} its family needs`);
  }
  const bare = (f: ProxyHeader['family']): ProxyHeaderRead => ({ kind: 'header', header: { version: 2, command, family: f, source: null, destination: null, length } });
  // Without a transport (UNSPEC), or for UNIX sockets, there is no IP address to use: the peer's is used.
  if (family === 'unspec' || family === 'unix' || transport === 0) return bare(family);
  const at = V2_FIXED_BYTES;
  const size = family === 'inet' ? 4 : 16;
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const source = { address: v2Address(view, at, family), port: view.readUInt16BE(at + 2 * size) };
  const destination = { address: v2Address(view, at + size, family), port: view.readUInt16BE(at + 2 * size + 2) };
  // Whatever follows the addresses up to `length` is TLVs: skipped.
  return { kind: 'header', header: { version: 2, command, family, source, destination, length } };
}

/** A refusal for a version/command byte we cannot accept, or null. */
function checkVersionCommand(byte: number): ProxyHeaderRead | null {
  if (byte >> 4 !== 2) return invalid('unsupported', `PROXY protocol version ${byte >> 4} after the version 2 signature (only 2 is defined)`);
  if ((byte & 0x0f) > 1) return invalid('unsupported', `version 2 command 0x${(byte & 0x0f).toString(16)} is neither LOCAL nor PROXY`);
  return null;
}

function v2Address(view: Buffer, at: number, family: 'inet' | 'inet6'): string {
  if (family === 'inet') return `${view[at]}.${view[at + 1]}.${view[at + 2]}.${view[at + 3]}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(view.readUInt16BE(at + i).toString(16));
  return new SocketAddress({ address: groups.join(':'), family: 'ipv6' }).address;
}
