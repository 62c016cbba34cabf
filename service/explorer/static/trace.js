// The trace of one batch, layer by layer: each layer's output values (bounded), their
// statistics, the steps the server shows inside it with the server's labels (Linear: terms,
// x·Wᵀ, b, output; norms: mean, variance or rms, normalized, output), the sums of a small
// layer's terms written out as the lessons write them, an activation's formula and its health
// (the share of dead or saturated outputs, with a histogram).

import { el } from './dom.js';
import { formatNumber, formatPercent, formatShape } from './format.js';
import { histogram } from './plots.js';
import { valueTable } from './tensors.js';
import { termSums } from './weights.js';

const SUMS_UP_TO = 64; // terms written out for layers of at most this many in × out
const SUM_SAMPLES = 2;

function statsLine(stats) {
  const item = (name, value, warn = false) =>
    el('span', { class: `stat${warn ? ' warn' : ''}`, dataset: { stat: name } }, el('span', { class: 'muted' }, name, ' '), value);
  return el(
    'div',
    { class: 'stats' },
    item('min', formatNumber(stats.min)),
    item('max', formatNumber(stats.max)),
    item('mean', formatNumber(stats.mean)),
    item('std', formatNumber(stats.std)),
    item('NaN', stats.nan, stats.nan > 0),
    item('Inf', stats.inf, stats.inf > 0),
  );
}

function layerSteps(layer) {
  const parts = [];
  layer.steps.forEach((step, index) => {
    if (index) parts.push(el('div', { class: 'step-arrow', 'aria-hidden': 'true' }, '→'));
    parts.push(
      el(
        'div',
        { class: 'step', dataset: { step: step.name } },
        el('div', { class: 'step-label' }, el('span', { class: 'step-name' }, step.name), ' ', step.label ?? '', step.running ? el('span', { class: 'badge running' }, 'running statistics') : null),
        valueTable(step, { maxRows: 4, maxColumns: 8 }),
      ),
    );
  });
  return el('div', { class: 'steps', 'aria-label': `${layer.name} step by step` }, parts);
}

/** The values a layer read, by source name: a model input or an earlier layer's output. */
function sourceTensor(traceDocument, name) {
  return traceDocument.inputs.find((input) => input.name === name) ?? traceDocument.layers.find((layer) => layer.name === name)?.output;
}

/** Each neuron's sum written out for the first samples: 0.5·0.2 + 1.0·(−0.9) = −0.8. */
function writtenSums(layer, traceDocument, weights) {
  const products = layer.steps.find((step) => step.name === 'product');
  const source = sourceTensor(traceDocument, layer.inputs[0]);
  if (!weights || !products || !source || weights.inputs * weights.neurons > SUMS_UP_TO || layer.input_shapes[0].length !== 2) return null;
  const samples = Math.min(SUM_SAMPLES, layer.input_shapes[0][0]);
  const blocks = [];
  for (let sample = 0; sample < samples; sample += 1) {
    const x = source.data.slice(sample * weights.inputs, (sample + 1) * weights.inputs);
    const sums = products.data.slice(sample * weights.neurons, (sample + 1) * weights.neurons);
    if (x.length < weights.inputs || sums.length < weights.neurons) break;
    blocks.push(
      el(
        'ol',
        { class: 'sums', start: 0, dataset: { sums: layer.name, sample } },
        termSums(weights, x, sums).map((text, neuron) => el('li', { dataset: { neuron } }, el('span', { class: 'muted' }, `neuron ${neuron}: `), text)),
      ),
    );
  }
  return el('div', { class: 'written-sums' }, el('p', { class: 'muted' }, `${products.label ?? 'x·W'} neuron by neuron, term by term (sample 0${samples > 1 ? ' and 1' : ''}):`), blocks);
}

/** What a health rule counts, in words: the fraction of outputs and the neurons hit on every sample. */
function healthWords(health) {
  if (health.rule === 'zero') {
    return {
      fraction: `dead ${formatPercent(health.fraction)}`,
      neurons: `${health.dead} of ${health.neurons} neurons dead for every sample`,
      explanation: 'outputs exactly what cut-off inputs become (0 for a ReLU): no gradient passes there',
    };
  }
  return {
    fraction: `saturated ${formatPercent(health.fraction)}`,
    neurons: `${health.saturated} of ${health.neurons} neurons saturated for every sample`,
    explanation: 'outputs at a bound of a clamp (ReLU6, Hardtanh) or within 1% of one of a curve (Sigmoid, Tanh): the gradient has vanished or all but',
  };
}

function healthPanel(layer) {
  const { health, output } = layer;
  const words = healthWords(health);
  const plot = histogram({
    title: `${layer.name}: output values${output.truncated ? ` (first ${output.data.length})` : ''}`,
    values: output.data,
    annotations: [
      { text: words.fraction, dataset: { label: health.rule === 'zero' ? 'dead-fraction' : 'saturated-fraction' } },
      { text: words.neurons, dataset: { label: 'neurons' } },
    ],
    dataset: { histogram: layer.name, rule: health.rule, fraction: health.fraction },
  });
  const perNeuron = health.per_neuron.slice(0, 16).map(formatPercent).join(', ');
  return el(
    'div',
    { class: 'health', dataset: { health: layer.name } },
    plot,
    el(
      'p',
      { class: 'muted' },
      `${words.fraction} of the outputs: ${words.explanation}. Per neuron: ${perNeuron}`,
      health.per_neuron.length > 16 || health.truncated ? ', …' : '',
      '.',
    ),
  );
}

function layerCard(layer, shapesByName, traceDocument, weightsOf) {
  const sources = layer.inputs.map((source, index) =>
    el('span', { class: 'source' }, source, ' ', el('span', { class: 'shape' }, formatShape(layer.input_shapes[index] ?? shapesByName.get(source) ?? []))),
  );
  return el(
    'article',
    { class: 'trace-layer', id: `trace-${layer.name}`, dataset: { traceLayer: layer.name, layerType: layer.type } },
    el(
      'header',
      {},
      el('span', { class: 'index' }, `#${layer.index}`),
      el('h4', {}, layer.name),
      el('span', { class: 'type' }, layer.type),
      layer.declared_type ? el('span', { class: 'badge what-if', dataset: { declaredType: layer.declared_type } }, `what if: declared ${layer.declared_type}`) : null,
      layer.overridden ? el('span', { class: 'badge what-if' }, `what if: ${layer.overridden.join(', ')} replaced`) : null,
      el('span', { class: 'muted reads' }, 'reads ', sources),
    ),
    layer.formula ? el('p', { class: 'formula', dataset: { formula: layer.name } }, `${layer.type}(x) = ${layer.formula}`) : null,
    layer.steps ? layerSteps(layer) : null,
    layer.steps ? writtenSums(layer, traceDocument, weightsOf?.(layer.name)) : null,
    valueTable(layer.output, { label: 'output', dataset: { traceOutput: layer.name } }),
    statsLine(layer.stats),
    layer.health ? healthPanel(layer) : null,
  );
}

/**
 * The whole trace as a list of cards: the model inputs, then one card per layer. weightsOf(name)
 * gives a small linear layer's weights as this trace ran with them (see weights.js), or nothing.
 */
export function traceView(traceDocument, weightsOf) {
  const shapesByName = new Map(traceDocument.inputs.map((input) => [input.name, input.shape]));
  const inputs = el(
    'article',
    { class: 'trace-layer trace-inputs', dataset: { traceLayer: '(inputs)' } },
    el('header', {}, el('h4', {}, 'inputs')),
    traceDocument.inputs.map((input) => valueTable(input, { label: input.name, dataset: { traceInput: input.name } })),
  );
  return el(
    'div',
    { class: 'trace', dataset: { traceModel: traceDocument.model_name } },
    el(
      'p',
      { class: 'muted' },
      `Each tensor shows at most ${traceDocument.max_values} values (the server's limit); statistics cover the whole batch.`,
    ),
    inputs,
    traceDocument.layers.map((layer) => layerCard(layer, shapesByName, traceDocument, weightsOf)),
  );
}
