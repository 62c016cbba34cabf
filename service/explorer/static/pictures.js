// Pictures of what a model does, drawn from traces of batches chosen for the picture:
// - one scalar in, one scalar out (sine): the model's curve over [0, 2π] (against sin(x) when
//   the model is about sine) and each hidden unit's ramp, the first activation per unit;
// - one 2-D input (fold): an 11×11 grid before the layer, after the linear step and after the
//   activation, each point coloured by its place in the grid, so the fold shows.

import { trace } from './api.js';
import { el } from './dom.js';
import { formatNumber, product } from './format.js';
import { linePlot, scatterPlot } from './plots.js';

const CURVE_SAMPLES = 200;
const GRID_SIDE = 11;
const MAX_EXTRA_TRACES = 12;

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
  if (metadata.inputs.length === 1 && metadata.outputs.length === 1 && sameShape(input.shape, [-1, 1]) && sameShape(metadata.outputs[0].shape, [-1, 1])) {
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
async function activationRows(modelName, input, xs, layerIndex, firstTrace) {
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
    response = await trace(modelName, batchInput(input, xs.slice(offset, offset + perTrace).map((x) => [x])));
  }
  return { rows, xs: xs.slice(0, rows.length) };
}

async function curvePictures(metadata) {
  const [input] = metadata.inputs;
  const xs = linspace(0, 2 * Math.PI, CURVE_SAMPLES);
  const first = await trace(metadata.name, batchInput(input, xs.map((x) => [x])));
  const ys = first.outputs[0].data;
  const modelLine = { points: xs.map((x, index) => [x, ys[index]]), className: 'model', label: metadata.name, dataset: { series: 'model' } };
  const series = [modelLine];
  const notes = [];
  if (approximatesSine(metadata)) {
    series.push({ points: xs.map((x) => [x, Math.sin(x)]), className: 'target', label: 'sin(x)', dataset: { series: 'target' } });
    const worst = Math.max(...xs.map((x, index) => Math.abs(ys[index] - Math.sin(x))));
    notes.push(`Largest |model − sin(x)| over these ${xs.length} points: ${formatNumber(worst)}`);
  }
  const xTicks = [
    [0, '0'],
    [0.5, 'π/2'],
    [1, 'π'],
    [1.5, '3π/2'],
    [2, '2π'],
  ].map(([multiple, label]) => ({ value: multiple * Math.PI, label }));
  const figures = [
    el(
      'figure',
      { class: 'picture' },
      linePlot({ title: `${metadata.name}(x) over [0, 2π]`, series, xTicks, xLabel: 'x', dataset: { plot: 'curve' } }),
      el('figcaption', {}, [`${xs.length} values of x in one traced batch.`, ...notes].join(' ')),
    ),
  ];

  const layerIndex = first.layers.findIndex(isActivation);
  if (layerIndex !== -1) {
    const layer = first.layers[layerIndex];
    const { rows, xs: rampXs } = await activationRows(metadata.name, input, xs, layerIndex, first);
    const units = rows.length ? rows[0].length : 0;
    const lines = Array.from({ length: units }, (_, unit) => ({
      points: rampXs.map((x, row) => [x, rows[row][unit]]),
      className: `unit unit-${unit % 6}`,
      dataset: { unit },
    }));
    figures.push(
      el(
        'figure',
        { class: 'picture' },
        lines.length
          ? linePlot({ title: `each unit of ${layer.name} (${layer.type}) over x`, series: lines, xTicks, xLabel: 'x', legend: false, dataset: { plot: 'units', layer: layer.name } })
          : el('p', { class: 'muted' }, `${layer.name} has more units than a trace sends values; no ramps to draw.`),
        el('figcaption', {}, `${units} units of ${layer.name}, one thin line each, over ${rampXs.length} values of x.`),
      ),
    );
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

function gridScatter(title, plotName, tensor, grid, axisNames) {
  const width = product(tensor.shape.slice(1));
  const available = Math.min(grid.length, Math.floor(tensor.data.length / width));
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
    scatterPlot({ title, points, segments, dataset: { plot: plotName }, xLabel: axisNames[0], yLabel: axisNames[1] }),
    el('figcaption', {}, notes.join('; ') || `${points.length} points`),
  );
}

async function gridPictures(metadata) {
  const [input] = metadata.inputs;
  const grid = [];
  for (const [row, y] of linspace(1, -1, GRID_SIDE).entries()) {
    for (const [column, x] of linspace(-1, 1, GRID_SIDE).entries()) grid.push({ x, y, row, column, color: gridColor(column, GRID_SIDE - 1 - row) });
  }
  const traced = await trace(metadata.name, batchInput(input, grid.map((cell) => [cell.x, cell.y])));
  const linearIndex = traced.layers.findIndex((layer) => isLinear(layer) && layer.inputs.includes(input.name));
  const linear = traced.layers[linearIndex === -1 ? 0 : linearIndex];
  const activation = traced.layers.find((layer) => layer.index > linear.index && isActivation(layer) && layer.inputs.includes(linear.name));
  const figures = [
    gridScatter(`before: ${input.name}`, 'grid-input', traced.inputs[0], grid, ['x₀', 'x₁']),
    gridScatter(`after ${linear.name} (${linear.type})`, 'grid-linear', linear.output, grid, ['h₀', 'h₁']),
  ];
  if (activation) figures.push(gridScatter(`after ${activation.name} (${activation.type})`, 'grid-activation', activation.output, grid, ['a₀', 'a₁']));
  return [
    el('div', { class: 'picture-row' }, figures),
    el('p', { class: 'muted' }, `An ${GRID_SIDE}×${GRID_SIDE} grid over [−1, 1]², traced in one batch; each point keeps its colour (red grows along x₀, blue along x₁), so the layers' rotating, stretching and folding show.`),
  ];
}

/** The pictures for the model, or an empty list. Errors are the caller's to show. */
export async function pictures(metadata) {
  const kinds = picturesFor(metadata);
  const figures = [];
  if (kinds.includes('curve')) figures.push(...(await curvePictures(metadata)));
  if (kinds.includes('grid')) figures.push(...(await gridPictures(metadata)));
  return figures;
}
