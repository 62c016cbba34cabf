// Pictures of what a model does, drawn from traces of batches chosen for the picture:
// - one scalar in, scalar outputs (sine, tent): each output's curve over [0, 2π] (against sin(x)
//   when the model is about sine) or over the range of the model's example, and each unit of the
//   first two activation layers: sine's ramps, then its tents;
// - one 2-D input (fold, dense): an 11×11 grid before the layer, after the linear step and after
//   the activation, each point coloured by its place in the grid, so the fold shows; the model's
//   example points are marked, with every coordinate they reach.
// Every trace carries the what-if parameters the page is set to, so the pictures redraw with them.

import { trace } from './api.js';
import { el } from './dom.js';
import { formatNumber, product } from './format.js';
import { linePlot, scatterPlot } from './plots.js';

const CURVE_SAMPLES = 200;
const GRID_SIDE = 11;
const MAX_EXTRA_TRACES = 12;
const UNIT_PICTURES = 2; // activation layers drawn unit by unit
const MARKED_POINTS = 3;

const sameShape = (a, b) => a.length === b.length && a.every((size, axis) => size === b[axis]);
// What a layer is comes from the server's layer registry (each traced layer's `family`).
const isActivation = (layer) => layer.family === 'activation';
const isLinear = (layer) => layer.family === 'linear';

function linspace(low, high, count) {
  return Array.from({ length: count }, (_, index) => low + ((high - low) * index) / (count - 1));
}

/** Which pictures suit the model, from its signature. */
export function picturesFor(metadata) {
  const [input] = metadata.inputs;
  const pictures = [];
  if (metadata.inputs.length === 1 && sameShape(input.shape, [-1, 1]) && metadata.outputs.every((output) => sameShape(output.shape, [-1, 1]))) {
    pictures.push('curve');
  }
  if (metadata.inputs.length === 1 && sameShape(input.shape, [-1, 2])) pictures.push('grid');
  return pictures;
}

function approximatesSine(metadata) {
  return metadata.name === 'sine' || /\bsin(e|\b|\()/i.test(metadata.description ?? '');
}

function batchInput(input, rows) {
  return [{ name: input.name, shape: [rows.length, ...input.shape.slice(1)], datatype: input.datatype, data: rows.flat() }];
}

/**
 * One activation layer's outputs for every x, as rows of per-unit values. A trace sends at most
 * max_values values per tensor, so the xs go in batches small enough for whole rows.
 */
async function activationRows(modelName, input, xs, layerIndex, firstTrace, parameters) {
  const rows = [];
  let response = firstTrace;
  let offset = 0;
  for (let extra = 0; ; extra += 1) {
    const output = response.layers[layerIndex].output;
    const units = product(output.shape.slice(1));
    const complete = Math.min(output.shape[0], Math.floor(output.data.length / units));
    for (let row = 0; row < complete; row += 1) rows.push(output.data.slice(row * units, (row + 1) * units));
    offset += complete;
    const perTrace = Math.floor(response.max_values / units);
    if (offset >= xs.length || perTrace < 1 || extra >= MAX_EXTRA_TRACES) break;
    response = await trace(modelName, batchInput(input, xs.slice(offset, offset + perTrace).map((x) => [x])), parameters);
  }
  return { rows, xs: xs.slice(0, rows.length) };
}

/** [low, high] of the model's example for `input` when it spans a range, else null. */
function exampleRange(metadata, input) {
  const values = (metadata.example?.[input.name] ?? []).flat(Infinity).filter(Number.isFinite);
  if (values.length < 2) return null;
  const low = Math.min(...values);
  const high = Math.max(...values);
  return high > low ? [low, high] : null;
}

const PI_TICKS = [
  [0, '0'],
  [0.5, 'π/2'],
  [1, 'π'],
  [1.5, '3π/2'],
  [2, '2π'],
].map(([multiple, label]) => ({ value: multiple * Math.PI, label }));

function unitFigure(layer, rows, xs, xTicks) {
  const units = rows.length ? rows[0].length : 0;
  const lines = Array.from({ length: units }, (_, unit) => ({
    points: xs.map((x, row) => [x, rows[row][unit]]),
    className: `unit unit-${unit % 6}`,
    dataset: { unit },
  }));
  return el(
    'figure',
    { class: 'picture' },
    lines.length
      ? linePlot({ title: `each unit of ${layer.name} (${layer.type}) over x`, series: lines, xTicks, xLabel: 'x', legend: false, dataset: { plot: 'units', layer: layer.name } })
      : el('p', { class: 'muted' }, `${layer.name} has more units than a trace sends values; nothing to draw.`),
    el('figcaption', {}, `${units} units of ${layer.name}, one thin line each, over ${xs.length} values of x.${layer.formula ? ` ${layer.type}: ${layer.formula}.` : ''}`),
  );
}

async function curvePictures(metadata, parameters) {
  const [input] = metadata.inputs;
  const sine = approximatesSine(metadata);
  const range = sine ? null : exampleRange(metadata, input);
  const xs = linspace(...(range ?? [0, 2 * Math.PI]), CURVE_SAMPLES);
  const xTicks = range ? undefined : PI_TICKS;
  const first = await trace(metadata.name, batchInput(input, xs.map((x) => [x])), parameters);
  const series = first.outputs.map((output, index) => ({
    points: xs.map((x, row) => [x, output.data[row]]),
    className: index ? `model unit-${index % 6}` : 'model',
    label: first.outputs.length > 1 ? output.name : metadata.name,
    dataset: { series: index ? `model-${output.name}` : 'model' },
  }));
  const notes = [];
  if (sine) {
    const ys = first.outputs[0].data;
    series.push({ points: xs.map((x) => [x, Math.sin(x)]), className: 'target', label: 'sin(x)', dataset: { series: 'target' } });
    const worst = Math.max(...xs.map((x, index) => Math.abs(ys[index] - Math.sin(x))));
    notes.push(`Largest |model − sin(x)| over these ${xs.length} points: ${formatNumber(worst)}`);
  }
  const domain = range ? `[${formatNumber(range[0])}, ${formatNumber(range[1])}]` : '[0, 2π]';
  const figures = [
    el(
      'figure',
      { class: 'picture' },
      linePlot({ title: `${metadata.name}(x) over ${domain}`, series, xTicks, xLabel: 'x', dataset: { plot: 'curve' } }),
      el('figcaption', {}, [`${xs.length} values of x in one traced batch.`, ...notes].join(' ')),
    ),
  ];
  const activations = first.layers.filter(isActivation).slice(0, UNIT_PICTURES);
  for (const layer of activations) {
    const { rows, xs: unitXs } = await activationRows(metadata.name, input, xs, layer.index, first, parameters);
    figures.push(unitFigure(layer, rows, unitXs, xTicks));
  }
  return figures;
}

/** A colour per grid position: red grows along x, blue along y. */
function gridColor(column, row) {
  const u = column / (GRID_SIDE - 1);
  const v = row / (GRID_SIDE - 1);
  return `rgb(${Math.round(30 + 200 * u)}, ${Math.round(110 - 40 * u * v)}, ${Math.round(30 + 200 * v)})`;
}

function gridSegments() {
  const segments = [];
  for (let row = 0; row < GRID_SIDE; row += 1) {
    for (let column = 0; column < GRID_SIDE; column += 1) {
      const index = row * GRID_SIDE + column;
      if (column + 1 < GRID_SIDE) segments.push([index, index + 1]);
      if (row + 1 < GRID_SIDE) segments.push([index, index + GRID_SIDE]);
    }
  }
  return segments;
}

function gridScatter(title, plotName, tensor, grid, axisNames, marked = []) {
  const width = product(tensor.shape.slice(1));
  const available = Math.min(grid.length, Math.floor(tensor.data.length / width));
  const marks = marked
    .map((_, index) => grid.length + index)
    .filter((row) => (row + 1) * width <= tensor.data.length)
    .map((row, index) => ({ x: tensor.data[row * width], y: width > 1 ? tensor.data[row * width + 1] : 0, dataset: { mark: index } }));
  const points = grid.slice(0, available).map((cell, index) => ({
    x: tensor.data[index * width],
    y: width > 1 ? tensor.data[index * width + 1] : 0,
    color: cell.color,
    dataset: { gridColumn: cell.column, gridRow: cell.row },
  }));
  const segments = gridSegments().filter(([from, to]) => from < available && to < available);
  const notes = [];
  if (width > 2) notes.push(`coordinates 0 and 1 of ${width}`);
  if (width === 1) notes.push('one coordinate, drawn on the x axis');
  if (available < grid.length) notes.push(`${available} of ${grid.length} points (the trace's value limit)`);
  return el(
    'figure',
    { class: 'picture scatter' },
    scatterPlot({ title, points, segments, marks, dataset: { plot: plotName }, xLabel: axisNames[0], yLabel: axisNames[1] }),
    el('figcaption', {}, notes.join('; ') || `${points.length} points`),
  );
}

/** The coordinates of batch row `row` of a traced tensor, or null when the trace did not send them. */
function rowOf(tensor, row) {
  const width = product(tensor.shape.slice(1));
  return (row + 1) * width <= tensor.data.length ? tensor.data.slice(row * width, (row + 1) * width) : null;
}

const coordinates = (values) => `(${values.map(formatNumber).join(', ')})`;

async function gridPictures(metadata, parameters) {
  const [input] = metadata.inputs;
  const grid = [];
  for (const [row, y] of linspace(1, -1, GRID_SIDE).entries()) {
    for (const [column, x] of linspace(-1, 1, GRID_SIDE).entries()) grid.push({ x, y, row, column, color: gridColor(column, GRID_SIDE - 1 - row) });
  }
  const marked = (metadata.example?.[input.name] ?? []).slice(0, MARKED_POINTS);
  const rows = [...grid.map((cell) => [cell.x, cell.y]), ...marked];
  const traced = await trace(metadata.name, batchInput(input, rows), parameters);
  const linearIndex = traced.layers.findIndex((layer) => isLinear(layer) && layer.inputs.includes(input.name));
  const linear = traced.layers[linearIndex === -1 ? 0 : linearIndex];
  const activation = traced.layers.find((layer) => layer.index > linear.index && isActivation(layer) && layer.inputs.includes(linear.name));
  const figures = [
    gridScatter(`before: ${input.name}`, 'grid-input', traced.inputs[0], grid, ['x₀', 'x₁'], marked),
    gridScatter(`after ${linear.name} (${linear.type})`, 'grid-linear', linear.output, grid, ['h₀', 'h₁'], marked),
  ];
  if (activation) figures.push(gridScatter(`after ${activation.name} (${activation.type})`, 'grid-activation', activation.output, grid, ['a₀', 'a₁'], marked));
  const journeys = marked.map((point, index) => {
    const row = grid.length + index;
    const stops = [linear, activation].filter(Boolean).map((layer) => [layer, rowOf(layer.output, row)]);
    return el(
      'li',
      { dataset: { markedPoint: index } },
      `${coordinates(point)}`,
      stops.filter(([, values]) => values).map(([layer, values]) => ` → ${layer.name} ${coordinates(values)}`),
    );
  });
  return [
    el('div', { class: 'picture-row' }, figures),
    el('p', { class: 'muted' }, `An ${GRID_SIDE}×${GRID_SIDE} grid over [−1, 1]², traced in one batch; each point keeps its colour (red grows along x₀, blue along x₁), so the layers' rotating, stretching and folding show.`),
    journeys.length ? el('div', { class: 'marked-points' }, el('p', {}, 'The example points (marked ◆), with every coordinate they reach:'), el('ul', {}, journeys)) : null,
  ];
}

/** The pictures for the model, or an empty list. Errors are the caller's to show. */
export async function pictures(metadata, parameters) {
  const kinds = picturesFor(metadata);
  const figures = [];
  if (kinds.includes('curve')) figures.push(...(await curvePictures(metadata, parameters)));
  if (kinds.includes('grid')) figures.push(...(await gridPictures(metadata, parameters)));
  return figures;
}
