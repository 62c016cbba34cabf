// The trace of one batch, layer by layer: each layer's output values (bounded), their
// statistics, the steps of a Linear/Dense layer (x·W, + bias, = output) and the health of an
// activation (the share of dead or saturated outputs, with a histogram).

import { el } from './dom.js';
import { formatNumber, formatPercent, formatShape } from './format.js';
import { histogram } from './plots.js';
import { valueTable } from './tensors.js';

const STEP_LABELS = { product: 'x·W', bias: '+ bias', output: '= output' };

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

function linearSteps(layer) {
  const parts = [];
  layer.steps.forEach((step, index) => {
    if (index) parts.push(el('div', { class: 'step-arrow', 'aria-hidden': 'true' }, '→'));
    parts.push(
      el(
        'div',
        { class: 'step', dataset: { step: step.name } },
        el('div', { class: 'step-label' }, STEP_LABELS[step.name] ?? step.name),
        valueTable(step, { maxRows: 4, maxColumns: 8 }),
      ),
    );
  });
  return el('div', { class: 'steps', 'aria-label': `${layer.name} step by step` }, parts);
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

function layerCard(layer, shapesByName) {
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
      el('span', { class: 'muted reads' }, 'reads ', sources),
    ),
    layer.steps ? linearSteps(layer) : null,
    valueTable(layer.output, { label: 'output', dataset: { traceOutput: layer.name } }),
    statsLine(layer.stats),
    layer.health ? healthPanel(layer) : null,
  );
}

/** The whole trace as a list of cards: the model inputs, then one card per layer. */
export function traceView(traceDocument) {
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
    traceDocument.layers.map((layer) => layerCard(layer, shapesByName)),
  );
}
