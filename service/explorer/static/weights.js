// Weights as the lessons draw them, and the what-if panel that edits them.
// - A Dense layer's W is inputs × neurons (a row per input, a column per neuron); a Linear
//   layer's is neurons × inputs (torch's layout: a row per neuron). The bias is one more row.
// - For small models the cells are number inputs and each activation a choice of the other
//   activations with the same shape rule: the page traces again with the server's what-if.

import { el } from './dom.js';
import { formatNumber } from './format.js';

/** Layers whose weights are drawn: linear ones with at most this many parameters. */
export const TABLE_PARAMETERS = 256;
/** Models with at most this many parameters get the what-if panel. */
export const WHAT_IF_PARAMETERS = 64;

/** {weight: nested, bias: array|null, layout, inputs, neurons} from one layer's ?values=true description. */
export function layerWeights(described) {
  const tensor = (name) => described.parameters.find((parameter) => parameter.name === name);
  const weight = tensor('weight').values;
  const dense = described.weight_layout === 'inputs × neurons';
  return {
    name: described.name,
    type: described.type,
    layout: described.weight_layout,
    weight,
    bias: tensor('bias')?.values ?? null,
    inputs: dense ? weight.length : weight[0].length,
    neurons: dense ? weight[0].length : weight.length,
    /** W for input i and neuron j, whichever way it is stored. */
    at: (matrix, i, j) => (dense ? matrix[i][j] : matrix[j][i]),
  };
}

/** A number as the lessons write a factor: 1.0, 0.5, (−0.9). */
function factor(value) {
  const text = Number.isInteger(value) ? value.toFixed(1) : formatNumber(value);
  return value < 0 ? `(${text.replace('-', '−')})` : text;
}

const signed = (value) => formatNumber(value).replace('-', '−');

/** "0.5·0.2 + 1.0·(−0.9) = −0.8" for each neuron of one sample: x from the layer's input, W from its weights. */
export function termSums(weights, x, products) {
  return Array.from({ length: weights.neurons }, (_, j) => {
    const terms = x.map((value, i) => `${factor(value)}·${factor(weights.at(weights.weight, i, j))}`);
    return `${terms.join(' + ')} = ${signed(products[j])}`;
  });
}

function cell(weights, key, value, editable, onEdit) {
  if (!editable) return el('td', { class: 'num', title: String(value) }, formatNumber(value));
  const input = el('input', { type: 'number', step: 'any', value: String(Number.parseFloat(value.toPrecision(6))), dataset: { weight: key }, 'aria-label': `${weights.name} ${key}` });
  input.addEventListener('change', onEdit);
  return el('td', { class: 'num' }, input);
}

/**
 * The weight table as the lesson draws it. `editable` turns cells into inputs whose
 * data-weight is "<layer>.weight[r][c]" in the stored layout; onEdit runs on each change.
 */
export function weightTable(weights, { editable = false, onEdit } = {}) {
  const dense = weights.layout === 'inputs × neurons';
  const rowNames = (dense ? Array.from({ length: weights.inputs }, (_, i) => `input ${i}`) : Array.from({ length: weights.neurons }, (_, j) => `neuron ${j}`));
  const columnNames = dense ? Array.from({ length: weights.neurons }, (_, j) => `neuron ${j}`) : Array.from({ length: weights.inputs }, (_, i) => `input ${i}`);
  const rows = weights.weight.map((row, r) =>
    el('tr', {}, el('th', { scope: 'row' }, rowNames[r]), row.map((value, c) => cell(weights, `weight.${r}.${c}`, value, editable, onEdit))),
  );
  const bias = weights.bias
    ? el(
        'tr',
        { class: 'bias-row' },
        el('th', { scope: 'row' }, 'bias'),
        dense
          ? weights.bias.map((value, j) => cell(weights, `bias.${j}`, value, editable, onEdit))
          : el('td', { colspan: weights.inputs, class: 'muted' }, weights.bias.map((value) => formatNumber(value)).join(', ')),
      )
    : null;
  const biasColumn = !dense && weights.bias ? weights.bias.map((value, j) => cell(weights, `bias.${j}`, value, editable, onEdit)) : null;
  const body = dense || !weights.bias ? [...rows, bias] : rows.map((row, j) => (row.append(biasColumn[j]), row));
  return el(
    'figure',
    { class: 'weights', dataset: { weights: weights.name, layout: weights.layout } },
    el(
      'table',
      { class: 'values weight-table' },
      el('thead', {}, el('tr', {}, el('th', {}, 'W'), columnNames.map((name) => el('th', { scope: 'col' }, name)), !dense && weights.bias ? el('th', { scope: 'col' }, 'bias') : null)),
      el('tbody', {}, body),
    ),
    el(
      'figcaption',
      {},
      el('strong', {}, `${weights.name} (${weights.type}) `),
      `W is ${weights.layout} (${dense ? `${weights.inputs} × ${weights.neurons}` : `${weights.neurons} × ${weights.inputs}`}): `,
      dense ? 'output = x·W + b, a column per neuron' : 'output = x·Wᵀ + b, a row per neuron (W·x for one sample)',
    ),
  );
}

/** The edited weights, as the trace's `weights` parameter: only the layers with a changed value. */
export function editedWeights(container, declared) {
  const overrides = {};
  for (const weights of declared) {
    const weight = weights.weight.map((row) => [...row]);
    const bias = weights.bias ? [...weights.bias] : null;
    let changed = false;
    for (const input of container.querySelectorAll(`[data-weights="${weights.name}"] input[data-weight]`)) {
      const [tensor, ...index] = input.dataset.weight.split('.');
      const value = Number.parseFloat(input.value);
      if (!Number.isFinite(value)) continue;
      const current = tensor === 'weight' ? weight[index[0]][index[1]] : bias[index[0]];
      if (Math.abs(value - current) <= 1e-6 * Math.max(1, Math.abs(current))) continue;
      if (tensor === 'weight') weight[index[0]][index[1]] = value;
      else bias[index[0]] = value;
      changed = true;
    }
    if (changed) {
      overrides[`${weights.name}.weight`] = weight;
      if (bias) overrides[`${weights.name}.bias`] = bias;
    }
  }
  return overrides;
}

/** A choice of activation for each activation layer without parameters: the declared one first. */
export function activationChoices(layers, layerTypes, onChange) {
  const byName = new Map(layerTypes.map((type) => [type.name, type]));
  const swappable = (type) => type.family === 'activation' && type.inputs === 1 && !type.hyperparameters.some((hp) => hp.required);
  return layers
    .filter((layer) => layer.family === 'activation' && layer.parameter_count === 0 && layer.buffers.length === 0)
    .map((layer) => {
      const declared = byName.get(layer.type);
      const others = layerTypes.filter((type) => swappable(type) && type.shape_rule === declared?.shape_rule && type.name !== layer.type);
      const select = el(
        'select',
        { dataset: { activation: layer.name }, 'aria-label': `activation of ${layer.name}` },
        [layer.type, ...others.map((type) => type.name)].map((name) => el('option', { value: name, title: byName.get(name)?.formula ?? '' }, name === layer.type ? `${name} (declared)` : name)),
      );
      select.addEventListener('change', onChange);
      return el('label', { class: 'field activation-choice' }, el('span', { class: 'field-name' }, layer.name, ' '), select);
    });
}

/** The chosen activations, as the trace's `activations` parameter: only those changed. */
export function chosenActivations(container, layers) {
  const declared = new Map(layers.map((layer) => [layer.name, layer.type]));
  const chosen = {};
  for (const select of container.querySelectorAll('select[data-activation]')) {
    if (select.value !== declared.get(select.dataset.activation)) chosen[select.dataset.activation] = select.value;
  }
  return chosen;
}
