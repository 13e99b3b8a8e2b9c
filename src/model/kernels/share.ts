// Identity, and Cast to the dtype a tensor already has, without copying: the output shares the
// input's memory (a reference count, as wasm's own Reshape and the cpu backend's Identity do).
// wasm copies in both. Training calls Identity for every tensor a kernel saves for its gradient
// (tfjs' engine clones each saved input and output: about 600 copies per resnet18 step, whole
// activations among them), and Cast float32 -> float32 in gradients (e.g. of a clone).
// Safe because no kernel on the wasm backend writes into its inputs: wasm's own kernels, exp's
// (conv2d-grad, depthwise-grad, matmul-t, segment-sum) and the native ones (native.ts) all write
// only into outputs they allocate; variables take new memory on assign.
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs';
import type { BackendWasm, TensorInfo } from './wasm-util.ts';

type Args = { inputs: { x: TensorInfo }; attrs: Record<string, unknown>; backend: BackendWasm };

function share(backend: BackendWasm, x: TensorInfo): TensorInfo {
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

const numeric = (t: TensorInfo) => t.dtype === 'float32' || t.dtype === 'int32' || t.dtype === 'bool';

/** Identity and Cast for wasm; `original(name)` gives wasm's own kernel for what they leave to it
 * (strings; Cast to another dtype). */
export function shareKernels(original: (name: string) => KernelConfig | undefined): KernelConfig[] {
  const delegate = (name: string, args: Args): TensorInfo => {
    const k = original(name);
    if (!k) throw new Error(`wasm has no ${name} kernel`);
    const out = k.kernelFunc(args as unknown as Parameters<KernelFunc>[0]);
    return (Array.isArray(out) ? out[0] : out) as TensorInfo;
  };
  const identity = (args: Args) => (numeric(args.inputs.x) ? share(args.backend, args.inputs.x) : delegate('Identity', args));
  const cast = (args: Args) => (numeric(args.inputs.x) && args.attrs.dtype === args.inputs.x.dtype
    ? share(args.backend, args.inputs.x) : delegate('Cast', args));
  return [
    { kernelName: 'Identity', backendName: 'wasm', kernelFunc: identity as unknown as KernelFunc },
    { kernelName: 'Cast', backendName: 'wasm', kernelFunc: cast as unknown as KernelFunc },
  ];
}
