/** Typed encodings of map keys and values (host byte order, as the kernel stores them). */
export interface Codec<T> {
  /** Bytes this codec reads and writes. */
  readonly size: number;
  encode(value: T): Buffer;
  decode(buf: Buffer, offset?: number): T;
}

function intCodec(size: 1 | 2 | 4, signed: boolean): Codec<number> {
  return {
    size,
    encode(v) {
      const b = Buffer.alloc(size);
      if (signed) b.writeIntLE(v, 0, size);
      else b.writeUIntLE(v, 0, size);
      return b;
    },
    decode(b, o = 0) {
      return signed ? b.readIntLE(o, size) : b.readUIntLE(o, size);
    },
  };
}

export const u8: Codec<number> = intCodec(1, false);
export const u16: Codec<number> = intCodec(2, false);
export const u32: Codec<number> = intCodec(4, false);
export const i32: Codec<number> = intCodec(4, true);

export const u64: Codec<bigint> = {
  size: 8,
  encode(v) {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt.asUintN(64, v));
    return b;
  },
  decode: (b, o = 0) => b.readBigUInt64LE(o),
};
export const i64: Codec<bigint> = {
  size: 8,
  encode(v) {
    const b = Buffer.alloc(8);
    b.writeBigInt64LE(BigInt.asIntN(64, v));
    return b;
  },
  decode: (b, o = 0) => b.readBigInt64LE(o),
};

/** Network-order 16-bit (ports as they appear on the wire). */
export const be16: Codec<number> = {
  size: 2,
  encode(v) {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(v);
    return b;
  },
  decode: (b, o = 0) => b.readUInt16BE(o),
};

/** Raw bytes of a fixed size. */
export function bytes(size: number): Codec<Buffer> {
  return {
    size,
    encode(v) {
      if (v.length !== size) throw new RangeError(`expected ${size} bytes, got ${v.length}`);
      return v;
    },
    decode: (b, o = 0) => Buffer.from(b.subarray(o, o + size)),
  };
}

/**
 * An unsigned integer of whatever width a map declares (1, 2, 4 or 8 bytes), as a bigint:
 * what l3afd's integer `map_args` and `monitor_maps` keys and values mean.
 */
export function uint(size: number): Codec<bigint> {
  if (![1, 2, 4, 8].includes(size)) throw new RangeError(`no integer of ${size} bytes`);
  return {
    size,
    encode(v) {
      const b = Buffer.alloc(size);
      if (size === 8) b.writeBigUInt64LE(BigInt.asUintN(64, v));
      else b.writeUIntLE(Number(BigInt.asUintN(size * 8, v)), 0, size);
      return b;
    },
    decode: (b, o = 0) => (size === 8 ? b.readBigUInt64LE(o) : BigInt(b.readUIntLE(o, size))),
  };
}
