import { p2pkhScript, p2shScript } from './dash-coinbase.js';
import { doubleSha256 } from './dashd-hashes.js';

/**
 * Dash addresses as dashd's `validateaddress` reads them: base58check of one version byte and a 20-byte
 * hash. Version bytes (Dash Core's chainparams): mainnet P2PKH 0x4c ("X..."), P2SH 0x10 ("7..."); testnet,
 * devnet and regtest P2PKH 0x8c ("y..."), P2SH 0x13 ("8..." or "9..."). Pure functions.
 */

export type DashChain = 'main' | 'test' | 'regtest' | 'devnet';
export const DASH_CHAINS: readonly DashChain[] = ['main', 'test', 'regtest', 'devnet'];

export const ADDRESS_VERSIONS: Record<DashChain, { pubKeyHash: number; scriptHash: number }> = {
  main: { pubKeyHash: 0x4c, scriptHash: 0x10 },
  test: { pubKeyHash: 0x8c, scriptHash: 0x13 },
  regtest: { pubKeyHash: 0x8c, scriptHash: 0x13 },
  devnet: { pubKeyHash: 0x8c, scriptHash: 0x13 },
};

const ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
const DIGIT = new Map([...ALPHABET].map((c, i) => [c, i]));

export function base58Encode(bytes: Uint8Array): string {
  let n = 0n;
  for (const b of bytes) n = n * 256n + BigInt(b);
  let out = '';
  while (n > 0n) {
    out = ALPHABET[Number(n % 58n)]! + out;
    n /= 58n;
  }
  for (const b of bytes) {
    if (b !== 0) break;
    out = '1' + out;
  }
  return out;
}

/** The bytes of base58 text, or null when a character is not in the alphabet. */
export function base58Decode(text: string): Buffer | null {
  let n = 0n;
  for (const c of text) {
    const d = DIGIT.get(c);
    if (d === undefined) return null;
    n = n * 58n + BigInt(d);
  }
  const hex = n === 0n ? '' : n.toString(16);
  const body = Buffer.from(hex.length % 2 === 1 ? '0' + hex : hex, 'hex');
  let zeros = 0;
  while (zeros < text.length && text[zeros] === '1') zeros++;
  return Buffer.concat([Buffer.alloc(zeros), body]);
}

export function encodeAddress(version: number, hash160: Uint8Array): string {
  if (hash160.length !== 20) throw new RangeError('encodeAddress: the hash must be 20 bytes');
  const body = Buffer.concat([Buffer.from([version]), hash160]);
  return base58Encode(Buffer.concat([body, doubleSha256(body).subarray(0, 4)]));
}

export type AddressReading = { isvalid: true; isscript: boolean; scriptPubKey: Buffer } | { isvalid: false; error: string };

/** What `validateaddress` says about `address` on `chain`. */
export function readAddress(address: string, chain: DashChain): AddressReading {
  const raw = base58Decode(address);
  if (raw === null || raw.length !== 25) return { isvalid: false, error: 'Invalid address format' };
  const body = raw.subarray(0, 21);
  if (!doubleSha256(body).subarray(0, 4).equals(raw.subarray(21))) return { isvalid: false, error: 'Invalid checksum' };
  const versions = ADDRESS_VERSIONS[chain];
  const hash = body.subarray(1);
  if (body[0] === versions.pubKeyHash) return { isvalid: true, isscript: false, scriptPubKey: p2pkhScript(hash) };
  if (body[0] === versions.scriptHash) return { isvalid: true, isscript: true, scriptPubKey: p2shScript(hash) };
  return { isvalid: false, error: `Invalid prefix for ${chain === 'main' ? 'mainnet' : chain} address` };
}

/** A valid P2PKH address of `chain` for `hash160` (payees of simulated masternodes, payout addresses in tests). */
export function p2pkhAddress(chain: DashChain, hash160: Uint8Array): string {
  return encodeAddress(ADDRESS_VERSIONS[chain].pubKeyHash, hash160);
}
