// Reads OTLP/HTTP protobuf requests (ExportTraceServiceRequest, ExportMetricsServiceRequest) with a small
// protobuf wire-format reader and the field numbers of opentelemetry-proto (v1). The installed
// @opentelemetry/otlp-transformer (0.223) encodes requests with a hand-written writer and decodes only
// responses, and no .proto files are installed, so the test reads the wire format itself; otlp-wire.test.ts
// checks this reader against requests the transformer's ProtobufTraceSerializer encodes.

/** Fields of one message: field number → values in order (varint/fixed as bigint, length-delimited as bytes). */
type Fields = Map<number, Array<bigint | Buffer>>;

function varint(b: Buffer, pos: { i: number }): bigint {
  let v = 0n;
  for (let shift = 0n; ; shift += 7n) {
    if (pos.i >= b.length) throw new RangeError('truncated varint');
    const byte = b[pos.i++]!;
    v |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return v;
  }
}

/** Splits a message into its fields. */
export function fields(b: Buffer): Fields {
  const out: Fields = new Map();
  const pos = { i: 0 };
  while (pos.i < b.length) {
    const tag = varint(b, pos);
    const num = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    let v: bigint | Buffer;
    if (wire === 0) v = varint(b, pos);
    else if (wire === 1) { v = b.readBigUInt64LE(pos.i); pos.i += 8; }
    else if (wire === 5) { v = BigInt(b.readUInt32LE(pos.i)); pos.i += 4; }
    else if (wire === 2) { const n = Number(varint(b, pos)); v = b.subarray(pos.i, pos.i + n); pos.i += n; }
    else throw new RangeError(`wire type ${wire} of field ${num}`);
    const list = out.get(num) ?? [];
    list.push(v);
    out.set(num, list);
  }
  return out;
}

const msgs = (f: Fields, n: number): Fields[] => (f.get(n) ?? []).map((v) => fields(v as Buffer));
const str = (f: Fields, n: number): string => ((f.get(n)?.[0] as Buffer | undefined) ?? Buffer.alloc(0)).toString('utf8');
const hex = (f: Fields, n: number): string => ((f.get(n)?.[0] as Buffer | undefined) ?? Buffer.alloc(0)).toString('hex');
const num = (f: Fields, n: number): bigint => (f.get(n)?.[0] as bigint | undefined) ?? 0n;

/** KeyValue list → record (AnyValue: 1 string, 2 bool, 3 int, 4 double). */
function attributes(list: Fields[]): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const kv of list) {
    const any = msgs(kv, 2)[0] ?? new Map();
    const key = str(kv, 1);
    if (any.has(1)) out[key] = str(any, 1);
    else if (any.has(2)) out[key] = num(any, 2) !== 0n;
    else if (any.has(3)) out[key] = Number(BigInt.asIntN(64, num(any, 3)));
    else if (any.has(4)) out[key] = Buffer.from(new BigUint64Array([num(any, 4)]).buffer).readDoubleLE(0);
  }
  return out;
}

export interface WireSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  attributes: Record<string, string | number | boolean>;
  statusCode: number;
  resource: Record<string, string | number | boolean>;
}

/** ExportTraceServiceRequest → spans (resource_spans 1 → resource 1 / scope_spans 2 → spans 2). */
export function decodeTraces(body: Buffer): WireSpan[] {
  return msgs(fields(body), 1).flatMap((rs) => {
    const resource = attributes(msgs(msgs(rs, 1)[0] ?? new Map(), 1));
    return msgs(rs, 2).flatMap((ss) => msgs(ss, 2).map((s) => ({
      traceId: hex(s, 1), spanId: hex(s, 2), parentSpanId: hex(s, 4), name: str(s, 5), kind: Number(num(s, 6)),
      attributes: attributes(msgs(s, 9)), statusCode: Number(num(msgs(s, 15)[0] ?? new Map(), 3)), resource,
    })));
  });
}

export interface WirePoint { value: number; attributes: Record<string, string | number | boolean> }
export interface WireMetric { name: string; description: string; kind: 'gauge' | 'sum' | 'other'; monotonic: boolean; points: WirePoint[] }

/** NumberDataPoint: 7 attributes, 4 as_double (fixed64), 6 as_int (sfixed64). */
function point(p: Fields): WirePoint {
  const value = p.has(4) ? Buffer.from(new BigUint64Array([num(p, 4)]).buffer).readDoubleLE(0) : Number(BigInt.asIntN(64, num(p, 6)));
  return { value, attributes: attributes(msgs(p, 7)) };
}

/** ExportMetricsServiceRequest → metrics (resource_metrics 1 → scope_metrics 2 → metrics 2; gauge 5, sum 7). */
export function decodeMetrics(body: Buffer): WireMetric[] {
  return msgs(fields(body), 1).flatMap((rm) => msgs(rm, 2).flatMap((sm) => msgs(sm, 2).map((m) => {
    const gauge = msgs(m, 5)[0];
    const sum = msgs(m, 7)[0];
    return {
      name: str(m, 1), description: str(m, 2), kind: gauge ? 'gauge' as const : sum ? 'sum' as const : 'other' as const,
      monotonic: sum ? num(sum, 3) !== 0n : false, points: msgs(gauge ?? sum ?? new Map(), 1).map(point),
    };
  })));
}
