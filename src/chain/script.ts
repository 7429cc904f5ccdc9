/**
 * Script and serialization pieces the coinbase builder needs (Bitcoin's encodings, which Dash keeps). Pure.
 *   compact size: 1 byte below 0xfd, else 0xfd + u16 / 0xfe + u32 (little-endian)
 *   push: a direct push (length byte 1..75), OP_PUSHDATA1 (0x4c, u8 length), OP_PUSHDATA2 (0x4d, u16),
 *         OP_PUSHDATA4 (0x4e, u32)
 *   BIP34 height: `CScript() << height`: OP_1..OP_16 (0x51..0x60) for 1..16, else a push of the minimal
 *         little-endian script number (a 0x00 sign byte added when the top bit is set)
 */

const OP_PUSHDATA1 = 0x4c;
const OP_PUSHDATA2 = 0x4d;
const OP_PUSHDATA4 = 0x4e;
const OP_1 = 0x51;

/** The compact-size length prefix of `n`. */
export function compactSizeBytes(n: number): Buffer {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`compact size: ${n} is not a 32-bit count`);
  if (n < 0xfd) return Buffer.from([n]);
  if (n <= 0xffff) {
    const b = Buffer.alloc(3);
    b[0] = 0xfd;
    b.writeUInt16LE(n, 1);
    return b;
  }
  const b = Buffer.alloc(5);
  b[0] = 0xfe;
  b.writeUInt32LE(n, 1);
  return b;
}

/** `bytes` with its compact-size length in front (scripts and payloads are serialized so). */
export function withCompactSize(bytes: Uint8Array): Buffer {
  return Buffer.concat([compactSizeBytes(bytes.length), bytes]);
}

/** A script push of `data` in its shortest form (up to 255 bytes: all a coinbase tag can need). */
export function pushData(data: Uint8Array): Buffer {
  if (data.length === 0) throw new RangeError('pushData: nothing to push');
  if (data.length <= 75) return Buffer.concat([Buffer.from([data.length]), data]);
  if (data.length <= 0xff) return Buffer.concat([Buffer.from([OP_PUSHDATA1, data.length]), data]);
  throw new RangeError(`pushData: ${data.length} bytes is more than a coinbase can carry`);
}

/** The BIP34 height push that must start a coinbase scriptSig (height 1 .. 2^31 - 1). */
export function heightPush(height: number): Buffer {
  if (!Number.isInteger(height) || height < 1 || height > 0x7fffffff) throw new RangeError(`BIP34 height must be 1 to ${0x7fffffff}, got ${height}`);
  if (height <= 16) return Buffer.from([OP_1 + height - 1]);
  const bytes: number[] = [];
  for (let v = height; v > 0; v = Math.floor(v / 256)) bytes.push(v % 256);
  if (bytes[bytes.length - 1]! & 0x80) bytes.push(0);
  return Buffer.from([bytes.length, ...bytes]);
}

/**
 * Why `script` is not a well-formed output script, or null: it is empty, or a push runs past its end
 * (what Dash Core's script parser refuses). The opcodes themselves are not judged.
 */
export function scriptProblem(script: Uint8Array): string | null {
  if (script.length === 0) return 'empty script';
  let i = 0;
  while (i < script.length) {
    const op = script[i]!;
    const at = i;
    i++;
    let length = 0;
    if (op >= 0x01 && op <= 0x4b) length = op;
    else if (op === OP_PUSHDATA1 || op === OP_PUSHDATA2 || op === OP_PUSHDATA4) {
      const size = op === OP_PUSHDATA1 ? 1 : op === OP_PUSHDATA2 ? 2 : 4;
      if (i + size > script.length) return `push length at byte ${at} runs past the end of the ${script.length}-byte script`;
      const view = Buffer.from(script.buffer, script.byteOffset, script.byteLength);
      length = size === 1 ? view[i]! : size === 2 ? view.readUInt16LE(i) : view.readUInt32LE(i);
      i += size;
    }
    if (i + length > script.length) return `push of ${length} bytes at byte ${at} runs past the end of the ${script.length}-byte script`;
    i += length;
  }
  return null;
}
