/**
 * A minimal protobuf writer for the parts of onnx.proto3 that a graph needs: ModelProto,
 * GraphProto, NodeProto, TensorProto, ValueInfoProto, AttributeProto. Field numbers are those
 * of onnx/onnx.proto3; encoding is plain protobuf wire format (varints, length-delimited
 * sub-messages, packed repeated scalars, little-endian raw_data), so the bytes are fully
 * determined by the input (no maps, no timestamps) — the same graph always gives the same file.
 */

/** ONNX TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, BOOL: 9, DOUBLE: 11 } as const;

/** ONNX AttributeProto.AttributeType values. */
export const AttributeType = {
  UNDEFINED: 0,
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
  TENSORS: 9,
  GRAPHS: 10,
} as const;

const WIRE_VARINT = 0;
const WIRE_FIXED32 = 5;
const WIRE_LEN = 2;

const textEncoder = new TextEncoder();

/** Append-only protobuf message writer. */
export class ProtoWriter {
  private chunks: Uint8Array[] = [];
  private length = 0;

  private push(b: Uint8Array): void {
    this.chunks.push(b);
    this.length += b.length;
  }

  private rawVarint(v: bigint): void {
    // int64 two's complement for negatives (10 bytes), as protobuf encodes int32/int64.
    let x = v < 0n ? (1n << 64n) + v : v;
    const out: number[] = [];
    do {
      let byte = Number(x & 0x7fn);
      x >>= 7n;
      if (x !== 0n) byte |= 0x80;
      out.push(byte);
    } while (x !== 0n);
    this.push(Uint8Array.from(out));
  }

  private tag(field: number, wire: number): void {
    this.rawVarint(BigInt((field << 3) | wire));
  }

  /** int32/int64/enum/bool field (varint). */
  varint(field: number, v: number | bigint): this {
    if (typeof v === 'number' && !Number.isInteger(v))
      throw new Error(`protobuf varint field ${field}: ${v} is not an integer`);
    this.tag(field, WIRE_VARINT);
    this.rawVarint(BigInt(v));
    return this;
  }

  /** float field (fixed32, little-endian). */
  float(field: number, v: number): this {
    this.tag(field, WIRE_FIXED32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.push(b);
    return this;
  }

  /** bytes field. */
  bytes(field: number, b: Uint8Array): this {
    this.tag(field, WIRE_LEN);
    this.rawVarint(BigInt(b.length));
    this.push(b);
    return this;
  }

  /** string field (UTF-8). */
  string(field: number, s: string): this {
    return this.bytes(field, textEncoder.encode(s));
  }

  /** Embedded message field. */
  message(field: number, m: ProtoWriter): this {
    return this.bytes(field, m.finish());
  }

  /** Packed repeated int64 field. */
  packedVarints(field: number, values: ArrayLike<number | bigint>): this {
    const inner = new ProtoWriter();
    for (let i = 0; i < values.length; i++) inner.rawVarint(BigInt(values[i]));
    return this.bytes(field, inner.finish());
  }

  /** Packed repeated float field. */
  packedFloats(field: number, values: ArrayLike<number>): this {
    const b = new Uint8Array(values.length * 4);
    const dv = new DataView(b.buffer);
    for (let i = 0; i < values.length; i++) dv.setFloat32(i * 4, values[i], true);
    return this.bytes(field, b);
  }

  /** The encoded message. */
  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

// ---- ONNX messages -------------------------------------------------------------------------

export type TensorData = Float32Array | BigInt64Array | Int32Array;

/** ONNX data type of a typed array. */
export function dataTypeOf(data: TensorData): number {
  if (data instanceof Float32Array) return DataType.FLOAT;
  if (data instanceof BigInt64Array) return DataType.INT64;
  if (data instanceof Int32Array) return DataType.INT32;
  throw new Error('unsupported tensor data type');
}

/** Little-endian bytes of a typed array (raw_data), independent of the host byte order. */
function littleEndianBytes(data: TensorData): Uint8Array {
  const out = new Uint8Array(data.byteLength);
  const dv = new DataView(out.buffer);
  if (data instanceof Float32Array) for (let i = 0; i < data.length; i++) dv.setFloat32(i * 4, data[i], true);
  else if (data instanceof Int32Array) for (let i = 0; i < data.length; i++) dv.setInt32(i * 4, data[i], true);
  else for (let i = 0; i < data.length; i++) dv.setBigInt64(i * 8, data[i], true);
  return out;
}

/** TensorProto: dims=1, data_type=2, name=8, raw_data=9. */
export function tensorProto(name: string, data: TensorData, dims: number[]): ProtoWriter {
  const count = dims.reduce((a, b) => a * b, 1);
  if (count !== data.length)
    throw new Error(`tensor ${name}: dims [${dims.join(', ')}] hold ${count} values but data has ${data.length}`);
  const w = new ProtoWriter();
  if (dims.length) w.packedVarints(1, dims);
  w.varint(2, dataTypeOf(data));
  if (name) w.string(8, name);
  w.bytes(9, littleEndianBytes(data));
  return w;
}

/**
 * ValueInfoProto: name=1, type=2 → TypeProto.tensor_type=1 → { elem_type=1, shape=2 →
 * TensorShapeProto.dim=1 → Dimension { dim_value=1 | dim_param=2 } }.
 */
export function valueInfoProto(name: string, elemType: number, shape: (number | string)[]): ProtoWriter {
  const shapeW = new ProtoWriter();
  for (const d of shape) {
    const dim = new ProtoWriter();
    if (typeof d === 'number') dim.varint(1, d);
    else dim.string(2, d);
    shapeW.message(1, dim);
  }
  const tensorType = new ProtoWriter().varint(1, elemType).message(2, shapeW);
  const typeProto = new ProtoWriter().message(1, tensorType);
  return new ProtoWriter().string(1, name).message(2, typeProto);
}

export type AttrValue =
  | { type: 'float'; value: number }
  | { type: 'int'; value: number }
  | { type: 'string'; value: string }
  | { type: 'floats'; value: number[] }
  | { type: 'ints'; value: number[] }
  | { type: 'tensor'; value: { data: TensorData; dims: number[] } };

/** AttributeProto: name=1, f=2, i=3, s=4, t=5, floats=7, ints=8, type=20. */
export function attributeProto(name: string, a: AttrValue): ProtoWriter {
  const w = new ProtoWriter().string(1, name);
  switch (a.type) {
    case 'float':
      w.float(2, a.value).varint(20, AttributeType.FLOAT);
      break;
    case 'int':
      w.varint(3, a.value).varint(20, AttributeType.INT);
      break;
    case 'string':
      w.string(4, a.value).varint(20, AttributeType.STRING);
      break;
    case 'tensor':
      w.message(5, tensorProto('', a.value.data, a.value.dims)).varint(20, AttributeType.TENSOR);
      break;
    case 'floats':
      w.packedFloats(7, a.value).varint(20, AttributeType.FLOATS);
      break;
    case 'ints':
      w.packedVarints(8, a.value).varint(20, AttributeType.INTS);
      break;
  }
  return w;
}

/** NodeProto: input=1, output=2, name=3, op_type=4, attribute=5, domain=7. */
export function nodeProto(
  opType: string,
  inputs: string[],
  outputs: string[],
  attrs: [string, AttrValue][],
  name?: string,
  domain?: string,
): ProtoWriter {
  const w = new ProtoWriter();
  for (const i of inputs) w.string(1, i);
  for (const o of outputs) w.string(2, o);
  if (name) w.string(3, name);
  w.string(4, opType);
  for (const [k, v] of attrs) w.message(5, attributeProto(k, v));
  if (domain) w.string(7, domain);
  return w;
}

/** GraphProto: node=1, name=2, initializer=5, doc_string=10, input=11, output=12. */
export function graphProto(g: {
  name: string;
  nodes: ProtoWriter[];
  initializers: ProtoWriter[];
  inputs: ProtoWriter[];
  outputs: ProtoWriter[];
  docString?: string;
}): ProtoWriter {
  const w = new ProtoWriter();
  for (const n of g.nodes) w.message(1, n);
  w.string(2, g.name);
  for (const t of g.initializers) w.message(5, t);
  if (g.docString) w.string(10, g.docString);
  for (const i of g.inputs) w.message(11, i);
  for (const o of g.outputs) w.message(12, o);
  return w;
}

/**
 * ModelProto: ir_version=1, producer_name=2, producer_version=3, doc_string=6, graph=7,
 * opset_import=8 (OperatorSetIdProto: domain=1, version=2), metadata_props=14
 * (StringStringEntryProto: key=1, value=2).
 */
export function modelProto(m: {
  irVersion: number;
  opset: number;
  graph: ProtoWriter;
  producerName?: string;
  producerVersion?: string;
  docString?: string;
  metadata?: [string, string][];
}): ProtoWriter {
  const w = new ProtoWriter().varint(1, m.irVersion);
  if (m.producerName) w.string(2, m.producerName);
  if (m.producerVersion) w.string(3, m.producerVersion);
  if (m.docString) w.string(6, m.docString);
  w.message(7, m.graph);
  w.message(8, new ProtoWriter().string(1, '').varint(2, m.opset));
  for (const [k, v] of m.metadata ?? []) w.message(14, new ProtoWriter().string(1, k).string(2, v));
  return w;
}
