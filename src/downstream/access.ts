import { createHash, timingSafeEqual } from 'node:crypto';
import { BlockList, isIP } from 'node:net';

/**
 * Who may use the device port: an optional CIDR allow-list for the remote address, and optional credentials
 * (an allow-list of worker names and/or one shared password). Pure checks, replaceable at run time (SIGHUP):
 * `update()` swaps the whole policy at once, so a check never sees half an old and half a new policy.
 */
export interface AccessSettings {
  /** Worker names allowed to authorize; empty: any name. */
  workers: readonly string[];
  /** Password every device must send with mining.authorize; null: any password. */
  password: string | null;
  /** Addresses or networks allowed to connect (`10.0.0.0/8`, `192.168.1.7`, `fd00::/8`); empty: anyone. */
  allowCidrs: readonly string[];
}

export interface Cidr {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/** Read `addr` or `addr/bits`; throws an Error saying what is wrong (the caller names the field). */
export function parseCidr(text: string): Cidr {
  if (typeof text !== 'string' || text.trim() === '') throw new Error('must be an address or a network such as 10.0.0.0/8');
  const [addr, bits, extra] = text.trim().split('/');
  if (extra !== undefined) throw new Error(`'${text}' has more than one '/'`);
  const version = isIP(addr!);
  if (version === 0) throw new Error(`'${addr}' is not an IPv4 or IPv6 address`);
  const max = version === 4 ? 32 : 128;
  let prefix = max;
  if (bits !== undefined) {
    if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) throw new Error(`'${text}': the prefix length must be 0 to ${max}`);
    prefix = Number(bits);
  }
  return { address: addr!, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

/**
 * A set of addresses and networks (`10.0.0.0/8`, `192.168.1.7`, `fd00::/8`), checked once when made: the
 * access list's `access.allowCidrs` and the PROXY protocol's `listen.trustedProxies` are both one.
 */
export class CidrSet {
  private constructor(
    private readonly list: BlockList,
    readonly size: number,
  ) {}

  /** Throws an Error saying which entry is wrong and why (the caller names the field). */
  static parse(cidrs: readonly string[]): CidrSet {
    const list = new BlockList();
    for (const c of cidrs.map((text) => parseCidr(text))) list.addSubnet(c.address, c.prefix, c.family);
    return new CidrSet(list, cidrs.length);
  }

  /** True when `ip` (an IPv4 or IPv6 address) is in one of the networks; false for anything else. */
  has(ip: string): boolean {
    const version = isIP(ip);
    return version !== 0 && this.list.check(ip, version === 4 ? 'ipv4' : 'ipv6');
  }
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

export class AccessPolicy {
  private workers = new Set<string>();
  private passwordDigest: Buffer | null = null;
  private addresses: CidrSet | null = null;

  constructor(settings: AccessSettings) {
    this.update(settings);
  }

  /** Replace the whole policy (validated first: a bad CIDR throws and the old policy stays). */
  update(settings: AccessSettings): void {
    const list = settings.allowCidrs.length > 0 ? CidrSet.parse(settings.allowCidrs) : null;
    this.workers = new Set(settings.workers);
    this.passwordDigest = settings.password === null ? null : digest(settings.password);
    this.addresses = list;
  }

  /** True when credentials are checked at all (a worker list or a password is set). */
  get checksCredentials(): boolean {
    return this.workers.size > 0 || this.passwordDigest !== null;
  }

  /** A reason to refuse mining.authorize, or null. */
  checkCredentials(username: string, password: string): string | null {
    if (this.workers.size > 0 && !this.workers.has(username)) return `Worker ${username.slice(0, 64)} is not on the allow-list`;
    // Compared as fixed-length digests in constant time: the answer time says nothing about the password.
    if (this.passwordDigest !== null && !timingSafeEqual(digest(password), this.passwordDigest)) return 'Wrong password';
    return null;
  }

  /** A reason to refuse a connection from `ip`, or null. */
  checkAddress(ip: string): string | null {
    const list = this.addresses;
    if (list === null) return null;
    if (isIP(ip) === 0) return `address ${ip.slice(0, 64)} is not an IP address`;
    return list.has(ip) ? null : `address ${ip} is not in access.allowCidrs`;
  }
}
