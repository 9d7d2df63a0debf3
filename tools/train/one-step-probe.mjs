/**
 * One training step whose optimizer updates are captured instead of applied:
 * the raw (unclipped) rate-distortion gradient, the loss and the gradient
 * norm of a path, with the model and both Adams left exactly as they were.
 * Works for any path whose step ends in trainer.ts's applyStep (trainStep,
 * DataParallelStepper.step), because that hands the gradients to opt.main.apply.
 */

/** `runStep(clipNorm)` runs one step of the path; returns its loss, gradNorm and the gradient flattened in sorted-name order. */
export async function probeStep(opt, runStep) {
  let captured;
  opt.main.apply = (_variables, grads) => {
    captured = Object.keys(grads).sort().map((name) => ({ name, data: grads[name].dataSync().slice() }));
  };
  opt.aux.apply = () => {};
  try {
    const r = await runStep(0); // clipNorm 0: the gradient before clipping
    if (!captured) throw new Error('the step did not reach the optimizer');
    const size = captured.reduce((s, g) => s + g.data.length, 0);
    const grads = new Float32Array(size);
    let at = 0;
    for (const g of captured) {
      grads.set(g.data, at);
      at += g.data.length;
    }
    return { loss: r.loss, gradNorm: r.gradNorm, names: captured.map((g) => `${g.name}:${g.data.length}`), grads };
  } finally {
    delete opt.main.apply; // back to Adam.prototype.apply
    delete opt.aux.apply;
  }
}
