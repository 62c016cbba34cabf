// The stack as a picture: a box per model input and per layer, an arrow from every source to
// the layer that reads it. Columns are depths (a layer sits one column right of its deepest
// source), so a layer with two inputs, like matcher's Bilinear, shows both arrows. Columns that
// do not fit the width wrap into bands below, so a long stack is read like lines of text.

import { svgEl } from './dom.js';
import { formatShape } from './format.js';

const BOX = { width: 150, height: 58 };
const GAP = { column: 56, row: 20 };
const MARGIN = 12;
const BAND_GAP = 36; // room for the arrows that run from the end of one band to the start of the next

function shortened(text, length = 20) {
  return text.length > length ? `${text.slice(0, length - 1)}…` : text;
}

/** Nodes with their column (depth) and row, and edges source → layer. */
export function stackLayout(metadata, layers) {
  const nodes = new Map();
  for (const input of metadata.inputs) {
    nodes.set(input.name, { id: input.name, kind: 'input', label: 'input', shape: input.shape, column: 0 });
  }
  const outputs = new Set(metadata.outputs.map((output) => output.name));
  const edges = [];
  for (const layer of layers) {
    const sources = layer.inputs.filter((source) => nodes.has(source));
    const column = 1 + Math.max(0, ...sources.map((source) => nodes.get(source).column));
    nodes.set(layer.name, {
      id: layer.name,
      kind: outputs.has(layer.name) ? 'output' : 'layer',
      label: layer.type,
      shape: layer.output_shape,
      column,
      index: layer.index,
    });
    layer.inputs.forEach((source, position) => {
      if (nodes.has(source)) edges.push({ from: source, to: layer.name, position, count: layer.inputs.length });
    });
  }
  const columns = [];
  for (const node of nodes.values()) {
    columns[node.column] ??= [];
    node.row = columns[node.column].length;
    columns[node.column].push(node);
  }
  return { nodes, edges, columns };
}

/** How many columns fit in maxWidth pixels (at least one). */
export function columnsPerBand(maxWidth) {
  return Math.max(1, Math.floor((maxWidth - 2 * MARGIN - GAP.column / 2 + GAP.column) / (BOX.width + GAP.column)));
}

function boxPosition(node, columns, tallest, perBand) {
  const rows = columns[node.column].length;
  const columnHeight = rows * BOX.height + (rows - 1) * GAP.row;
  const tallestHeight = tallest * BOX.height + (tallest - 1) * GAP.row;
  const band = Math.floor(node.column / perBand);
  return {
    x: MARGIN + (node.column % perBand) * (BOX.width + GAP.column),
    y: MARGIN + band * (tallestHeight + BAND_GAP) + (tallestHeight - columnHeight) / 2 + node.row * (BOX.height + GAP.row),
    band,
    bandBottom: MARGIN + band * (tallestHeight + BAND_GAP) + tallestHeight,
  };
}

function edgePath(from, to, edge) {
  const startX = from.x + BOX.width;
  const startY = from.y + BOX.height / 2;
  const endX = to.x - 2;
  const endY = to.y + (BOX.height * (edge.position + 1)) / (edge.count + 1);
  if (from.band === to.band) {
    const bend = Math.max(24, (endX - startX) / 2);
    return `M${startX},${startY} C${startX + bend},${startY} ${endX - bend},${endY} ${endX},${endY}`;
  }
  // to a later band: out to the right, along the gap under the source's band, in from the left
  const gapY = from.bandBottom + BAND_GAP / 2;
  const out = startX + GAP.column / 3;
  const back = Math.max(MARGIN / 2, endX - GAP.column / 3);
  return `M${startX},${startY} L${out},${startY} L${out},${gapY} L${back},${gapY} L${back},${endY} L${endX},${endY}`;
}

/** The diagram as an SVG element, at most maxWidth pixels wide (its columns wrap into bands);
 * onSelect(layerName) is called when a layer box is clicked. */
export function stackDiagram(metadata, layers, onSelect, maxWidth = Infinity) {
  const { nodes, edges, columns } = stackLayout(metadata, layers);
  const tallest = Math.max(...columns.map((column) => column.length));
  const perBand = Math.min(columns.length, columnsPerBand(maxWidth));
  const bands = Math.ceil(columns.length / perBand);
  const width = 2 * MARGIN + perBand * BOX.width + (perBand - 1) * GAP.column + (bands > 1 ? GAP.column / 2 : 0);
  const bandHeight = tallest * BOX.height + (tallest - 1) * GAP.row;
  const height = 2 * MARGIN + bands * bandHeight + (bands - 1) * BAND_GAP;
  const positions = new Map([...nodes.values()].map((node) => [node.id, boxPosition(node, columns, tallest, perBand)]));

  const arrows = edges.map((edge) => {
    return svgEl('path', {
      class: 'edge',
      d: edgePath(positions.get(edge.from), positions.get(edge.to), edge),
      'marker-end': 'url(#stack-arrowhead)',
      dataset: { edgeFrom: edge.from, edgeTo: edge.to, edgePosition: edge.position },
    });
  });

  const boxes = [...nodes.values()].map((node) => {
    const { x, y } = positions.get(node.id);
    const group = svgEl(
      'g',
      {
        class: `node node-${node.kind}`,
        transform: `translate(${x},${y})`,
        dataset: { node: node.id, nodeKind: node.kind, nodeType: node.label, band: positions.get(node.id).band },
        tabindex: node.kind === 'input' ? null : 0,
      },
      svgEl('title', {}, `${node.id} (${node.label}) → ${formatShape(node.shape)}`),
      svgEl('rect', { width: BOX.width, height: BOX.height, rx: 6 }),
      svgEl('text', { x: 10, y: 19, class: 'node-name' }, shortened(node.id)),
      svgEl('text', { x: 10, y: 35, class: 'node-type' }, node.kind === 'output' ? `${node.label} · output` : node.label),
      svgEl('text', { x: 10, y: 50, class: 'node-shape' }, formatShape(node.shape)),
    );
    if (node.kind !== 'input' && onSelect) {
      group.addEventListener('click', () => onSelect(node.id));
      group.addEventListener('keydown', (event) => {
        if (event.key === 'Enter' || event.key === ' ') onSelect(node.id);
      });
    }
    return group;
  });

  return svgEl(
    'svg',
    {
      class: 'stack-diagram',
      width,
      height,
      viewBox: `0 0 ${width} ${height}`,
      role: 'img',
      'aria-label': `${layers.length} layers from ${metadata.inputs.map((input) => input.name).join(', ')}`,
      dataset: { diagram: metadata.name, bands },
    },
    svgEl(
      'defs',
      {},
      svgEl(
        'marker',
        {
          id: 'stack-arrowhead',
          viewBox: '0 0 10 10',
          refX: 9,
          refY: 5,
          markerWidth: 8,
          markerHeight: 8,
          orient: 'auto-start-reverse',
        },
        svgEl('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead' }),
      ),
    ),
    arrows,
    boxes,
  );
}
