/**
 * Build ONNX graphs in TypeScript: declare inputs/outputs, add initializers and nodes, get the
 * serialised ModelProto bytes. Deterministic: the same calls give byte-identical files.
 *
 *   const g = new GraphBuilder('double');
 *   const x = g.input('x', 'float32', ['batch', 4]);
 *   const two = g.initializer('two', new Float32Array([2]), []);
 *   g.node('Mul', [x, two], ['y']);
 *   g.output('y', 'float32', ['batch', 4]);
 *   const bytes = g.toBytes(); // → new ort.InferenceSession.create(bytes)
 */
import {
  DataType,
  graphProto,
  modelProto,
  nodeProto,
  tensorProto,
  valueInfoProto,
  type AttrValue,
  type ProtoWriter,
  type TensorData,
} from './proto.js';

export type OnnxElemType = 'float32' | 'int64' | 'int32';

export type OnnxAttr =
  | { int: number }
  | { float: number }
  | { ints: number[] }
  | { floats: number[] }
  | { string: string }
  | { tensor: { data: Float32Array | BigInt64Array | Int32Array; dims: number[] } };

const ELEM: Record<OnnxElemType, number> = { float32: DataType.FLOAT, int64: DataType.INT64, int32: DataType.INT32 };

/** IR version that goes with an opset of the default domain (onnx/onnx docs/Versioning.md). */
function irVersionFor(opset: number): number {
  if (opset <= 8) return 3;
  if (opset <= 10) return 5;
  if (opset <= 11) return 6;
  if (opset <= 14) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  return 10;
}

function toAttrValue(name: string, a: OnnxAttr): AttrValue {
  if ('int' in a) return { type: 'int', value: a.int };
  if ('float' in a) return { type: 'float', value: a.float };
  if ('ints' in a) return { type: 'ints', value: a.ints };
  if ('floats' in a) return { type: 'floats', value: a.floats };
  if ('string' in a) return { type: 'string', value: a.string };
  if ('tensor' in a) return { type: 'tensor', value: a.tensor };
  throw new Error(`attribute ${name}: unknown kind`);
}

/** Collects an ONNX graph and serialises it as a ModelProto. */
export class GraphBuilder {
  readonly name: string;
  readonly opset: number;
  private inputs: ProtoWriter[] = [];
  private outputs: ProtoWriter[] = [];
  private initializers: ProtoWriter[] = [];
  private nodes: ProtoWriter[] = [];
  private names = new Set<string>();
  private counter = 0;
  /** Key/value pairs stored as ModelProto.metadata_props (in insertion order). */
  readonly metadata: [string, string][] = [];
  docString = '';

  /** A new empty graph; `opset` of the default ONNX domain, default 17. */
  constructor(name: string, opset = 17) {
    this.name = name;
    this.opset = opset;
  }

  private claim(name: string): string {
    if (this.names.has(name)) throw new Error(`ONNX graph ${this.name}: value name "${name}" is defined twice`);
    this.names.add(name);
    return name;
  }

  /** Declare a graph input; string dims are symbolic (e.g. 'batch'). Returns the name. */
  input(name: string, type: OnnxElemType, shape: (number | string)[]): string {
    this.claim(name);
    this.inputs.push(valueInfoProto(name, ELEM[type], shape));
    return name;
  }

  /** Declare a graph output (a value some node produces). */
  output(name: string, type: OnnxElemType, shape: (number | string)[]): void {
    this.outputs.push(valueInfoProto(name, ELEM[type], shape));
  }

  /** Add a constant weight tensor (stored as raw_data). Returns the name. */
  initializer(name: string, data: Float32Array | BigInt64Array | Int32Array, dims: number[]): string {
    this.claim(name);
    this.initializers.push(tensorProto(name, data as TensorData, dims));
    return name;
  }

  /** Add a node. Attributes are written in key order, so output bytes do not depend on object order. */
  node(opType: string, inputs: string[], outputs: string[], attrs: Record<string, OnnxAttr> = {}, name?: string): void {
    for (const o of outputs) if (o) this.claim(o);
    const list: [string, AttrValue][] = Object.keys(attrs)
      .sort()
      .map((k) => [k, toAttrValue(k, attrs[k])]);
    this.nodes.push(nodeProto(opType, inputs, outputs, list, name));
  }

  /** A fresh value name with the given prefix (unique within this graph). */
  fresh(prefix = 't'): string {
    let n: string;
    do n = `${prefix}_${this.counter++}`;
    while (this.names.has(n));
    return n;
  }

  /** Convenience: add a node with one fresh output and return that output's name. */
  op(opType: string, inputs: string[], attrs: Record<string, OnnxAttr> = {}, outName?: string): string {
    const out = outName ?? this.fresh(opType.toLowerCase());
    this.node(opType, inputs, [out], attrs);
    return out;
  }

  /** Convenience: a float32 constant initializer with a fresh name. */
  constFloat(values: number[] | Float32Array, dims: number[], prefix = 'c'): string {
    return this.initializer(
      this.fresh(prefix),
      values instanceof Float32Array ? values : Float32Array.from(values),
      dims,
    );
  }

  /** Convenience: an int64 constant initializer (e.g. a Reshape shape) with a fresh name. */
  constInt64(values: number[], dims: number[] = [values.length], prefix = 'shape'): string {
    return this.initializer(this.fresh(prefix), BigInt64Array.from(values.map((v) => BigInt(v))), dims);
  }

  /** The serialised ModelProto. */
  toBytes(): Uint8Array {
    const graph = graphProto({
      name: this.name,
      nodes: this.nodes,
      initializers: this.initializers,
      inputs: this.inputs,
      outputs: this.outputs,
      docString: this.docString || undefined,
    });
    return modelProto({
      irVersion: irVersionFor(this.opset),
      opset: this.opset,
      graph,
      producerName: 'radcbir',
      producerVersion: '1',
      metadata: this.metadata,
    }).finish();
  }
}
