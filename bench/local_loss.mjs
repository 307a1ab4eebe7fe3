/**
 * The `local` section of `npm run bench` (issue 14): the cost of Local-Lip's certified training
 * loss as `examples/mnist_local_lip.js` runs it. One `lip.train.fit` epoch of the example's network
 * (784-128-128-10, clipped ReLU, batch 256, Adam 1e-3) with softmax cross-entropy (plain), with
 * `lip.losses.localLipschitzCertified({bound: 'local'})` and with `{bound: 'global'}`, timed
 * alternately (each model keeps its own weights and loss, so the per-sample warm start is in its
 * steady state after the warm-up epochs); reported per step, with the ratios to plain. Then the
 * certification of the example's trained-for-one-epoch local model: `lip.local.certifiedAccuracy`
 * per sample with the local head radius (float64 certificate per sample) and the global one.
 */

/** The example's network, seeded. */
function network(tf, tfl, lip) {
  const dense = (units, seed, extra = {}) => tfl.layers.dense({ units, kernelInitializer: tfl.initializers.heNormal({ seed }), ...extra });
  const model = tfl.sequential({
    layers: [dense(128, 1, { inputShape: [784] }), lip.activations.clippedReLU({ threshold: 1 }), dense(128, 2), lip.activations.clippedReLU({ threshold: 1 }), dense(10, 3)],
  });
  const crossEntropy = (yTrue, logits) => tf.losses.softmaxCrossEntropy(yTrue, logits);
  model.compile({ optimizer: tf.train.adam(1e-3), loss: crossEntropy });
  return model;
}

export async function benchLocalLoss(r, { tf, tfl, lip, quick, round, log, alternate, runs }) {
  const n = quick ? 512 : 2560;
  const batchSize = 256;
  const steps = Math.ceil(n / batchSize);
  const x = tf.randomUniform([n, 784], 0, 1, 'float32', 21);
  const labels = tf.randomUniform([n], 0, 10, 'int32', 22);
  const y = tf.tidy(() => tf.cast(tf.oneHot(labels, 10), 'float32'));
  const runs_ = quick ? 2 : Math.min(runs, 5);
  const setups = {
    plain: { model: network(tf, tfl, lip), loss: undefined },
    local: { model: network(tf, tfl, lip), loss: lip.losses.localLipschitzCertified({ epsilon: 1.58 }) },
    global: { model: network(tf, tfl, lip), loss: lip.losses.localLipschitzCertified({ epsilon: 1.58, bound: 'global' }) },
  };
  const epoch = ({ model, loss }) => async () => { await lip.train.fit(model, x, y, { epochs: 1, batchSize, loss, verbose: 0 }); };
  const t = await alternate(Object.fromEntries(Object.entries(setups).map(([k, s]) => [k, epoch(s)])), runs_, 1);
  const perStep = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, round(v / steps, 2)]));
  r.localLossStepMs = perStep;
  r.localLoss = { samples: n, batchSize, steps, runs: runs_, localRatio: round(perStep.local / perStep.plain, 2), globalRatio: round(perStep.global / perStep.plain, 2) };
  const m = quick ? 32 : 256;
  const xc = tf.slice(x, 0, m);
  const lc = tf.slice(labels, 0, m);
  const t0 = performance.now();
  lip.local.certifiedAccuracy(setups.local.model, xc, lc, 0.1);
  const t1 = performance.now();
  lip.local.certifiedAccuracy(setups.local.model, xc, lc, 0.1, { radius: 'global' });
  const t2 = performance.now();
  r.localCertifyMsPerSample = { local: round((t1 - t0) / m, 2), global: round((t2 - t1) / m, 2), samples: m };
  log('  local loss ms/step', perStep, r.localLoss, 'certify ms/sample', r.localCertifyMsPerSample);
  for (const s of Object.values(setups)) {
    s.loss?.dispose();
    s.model.dispose();
  }
  tf.dispose([x, y, labels, xc, lc]);
}

/** The markdown of the section. */
export function localLossMarkdown(r) {
  if (!r.localLossStepMs) return [];
  const s = r.localLossStepMs;
  const c = r.localCertifyMsPerSample;
  return [
    `Local-Lip's certified loss (\`examples/mnist_local_lip.js\`'s network 784-128-128-10 with clipped ReLU, batch ${r.localLoss.batchSize}, \`lip.train.fit\` epochs of ${r.localLoss.steps} steps timed alternately, ${r.localLoss.runs} runs): ms per step, plain cross-entropy ${s.plain}, \`localLipschitzCertified\` with the local bound ${s.local} (x${r.localLoss.localRatio}), with the global bound ${s.global} (x${r.localLoss.globalRatio}); no target (the seed's loss costs a few forward and backward passes). Certifying the trained model, \`lip.local.certifiedAccuracy\`: ${c.local} ms per sample with the local head radius (a float64 certificate per sample and piece), ${c.global} ms with the global one (${c.samples} samples).`,
    '',
  ];
}
