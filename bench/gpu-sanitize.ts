/**
 * The fused CUDA kernels on small shapes, forward and backward, for compute-sanitizer (bench/gpu-check.sh runs this
 * under `compute-sanitizer --tool memcheck` and then racecheck): every convolution and similarity form with odd
 * sizes, strides, padding and dilation, plus pooling, batch norm and the losses, with results read back so that
 * every queued kernel runs.
 */
import * as ns from '../lib';

function check(name: string, fn: () => ns.Tensor): void {
  ns.tidy(() => {
    const out = fn();
    out.sum().backward();
    const values = out.dataSync();
    if (values.some((v) => Number.isNaN(v))) throw new Error(`${name}: NaN in the output`);
  });
}

export function run(): void {
  if (!ns.cuda.isAvailable()) throw new Error(`gpu-sanitize: no usable CUDA device (${ns.backendInfo().reason})`);
  ns.manualSeed(1);
  const dev = { device: 'cuda' as const, requiresGrad: true };
  for (const tf32 of [true, false]) {
    ns.backends.cuda.allowTF32 = tf32;
    for (const o of [{ padding: 1 }, { padding: 0, stride: 2 }, { padding: 2, dilation: 2 }]) {
      const x = ns.randn([2, 5, 9, 7], dev), w = ns.randn([6, 5, 3, 3], dev), b = ns.randn([6], dev);
      check('conv2d', () => ns.conv2d(x, w, { ...o, bias: b }));
      const probe = ns.noGrad(() => ns.conv2d(x, w, o));
      const [n, , ho, wo] = probe.shape;
      for (const m of [[9], [9, 9], [45, 45], [n, 9, ho, wo], [n, 81, ho, wo]]) {
        const mt = ns.rand(m, dev);
        check(`similarityConv2d m ${JSON.stringify(m)}`, () => ns.similarityConv2d(x, w, mt, { ...o, bias: b }));
      }
    }
    const xg = ns.randn([2, 6, 8, 8], dev);
    check('grouped conv2d', () => ns.conv2d(xg, ns.randn([6, 2, 3, 3], dev), { groups: 3, padding: 1 }));
    check('depthwise conv2d', () => ns.conv2d(xg, ns.randn([6, 1, 3, 3], dev), { groups: 6, padding: 1 }));
    check('matmul', () => ns.matmul(ns.randn([3, 17, 33], dev), ns.randn([33, 9], dev)));
  }
  const x = ns.randn([3, 4, 9, 9], dev);
  check('maxPool2d', () => ns.maxPool2d(x, 3, { stride: 2, padding: 1, ceilMode: true }));
  check('avgPool2d', () => ns.avgPool2d(x, 2));
  check('batchNorm2d', () => ns.batchNorm2d(x, ns.zeros([4], { device: 'cuda' }), ns.ones([4], { device: 'cuda' }), { training: true }));
  check('crossEntropy', () => ns.crossEntropy(ns.randn([5, 7], dev), ns.tensor(Int32Array.from([0, 6, 3, 2, 1]), [5], { device: 'cuda' }), { labelSmoothing: 0.1 }));
  ns.cuda.synchronize();
  console.log('gpu-sanitize: every kernel ran');
}

if (require.main === module) run();
