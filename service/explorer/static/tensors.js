// Tensors as the API sends them (a shape and flat row-major data, maybe only the first values),
// and as tables a person can read: one row per sample, one column per value of that sample.

import { el } from './dom.js';
import { formatNumber, formatShape, product } from './format.js';

/** The shape of nested arrays, or an error message if they are ragged or hold non-numbers. */
export function nestedShape(value, path = 'the value') {
  if (!Array.isArray(value)) {
    if (typeof value !== 'number') throw new Error(`${path} is ${JSON.stringify(value)}, not a number`);
    return [];
  }
  if (value.length === 0) throw new Error(`${path} is an empty list`);
  const shapes = value.map((item, index) => nestedShape(item, `${path}[${index}]`));
  const first = JSON.stringify(shapes[0]);
  const ragged = shapes.findIndex((shape) => JSON.stringify(shape) !== first);
  if (ragged !== -1) throw new Error(`${path} is ragged: item ${ragged} does not have the shape of item 0`);
  return [value.length, ...shapes[0]];
}

/**
 * The rows of a batch-first tensor that the data holds: [[sample 0 values], [sample 1 values], ...].
 * A 1-D tensor (a bias) is one row. Rows past the data (a truncated tensor) are left out.
 */
export function tensorRows(tensor) {
  const { shape, data } = tensor;
  const rowCount = shape.length <= 1 ? 1 : shape[0];
  const rowSize = shape.length <= 1 ? product(shape) : product(shape.slice(1));
  const rows = [];
  for (let row = 0; row < rowCount && row * rowSize < data.length; row += 1) {
    rows.push(data.slice(row * rowSize, Math.min((row + 1) * rowSize, data.length)));
  }
  return { rows, rowCount, rowSize };
}

/**
 * A bounded table of a tensor's values. `limits` caps the rows and columns shown; the caption
 * says what is left out, both by the table and by the server (a truncated trace tensor).
 */
export function valueTable(tensor, { maxRows = 8, maxColumns = 12, label, dataset = {} } = {}) {
  const { rows, rowCount, rowSize } = tensorRows(tensor);
  const isVector = tensor.shape.length <= 1;
  const shownRows = rows.slice(0, maxRows);
  const shownColumns = Math.min(rowSize, maxColumns);
  const header = el(
    'tr',
    {},
    el('th', { scope: 'col' }, isVector ? '' : 'sample'),
    Array.from({ length: shownColumns }, (_, column) => el('th', { scope: 'col' }, column)),
    rowSize > shownColumns ? el('th', { scope: 'col' }, '…') : null,
  );
  const body = shownRows.map((values, rowIndex) =>
    el(
      'tr',
      {},
      el('th', { scope: 'row' }, isVector ? '' : rowIndex),
      Array.from({ length: shownColumns }, (_, column) =>
        column < values.length
          ? el('td', { class: 'num', title: String(values[column]) }, formatNumber(values[column]))
          : el('td', { class: 'num missing', title: 'not sent by the server' }, '·'),
      ),
      rowSize > shownColumns ? el('td', { class: 'more' }, `+${rowSize - shownColumns}`) : null,
    ),
  );
  const notes = [];
  if (rowCount > shownRows.length) notes.push(`showing ${shownRows.length} of ${rowCount} samples`);
  if (rowSize > shownColumns) notes.push(`${shownColumns} of ${rowSize} values per sample`);
  if (tensor.truncated) notes.push(`the server sent the first ${tensor.data.length} of ${product(tensor.shape)} values`);
  return el(
    'figure',
    { class: 'tensor', dataset: { tensorShape: JSON.stringify(tensor.shape), ...dataset } },
    el('table', { class: 'values' }, el('thead', {}, header), el('tbody', {}, body)),
    el(
      'figcaption',
      {},
      label ? el('strong', {}, label, ' ') : null,
      el('span', { class: 'shape' }, formatShape(tensor.shape)),
      notes.length ? el('span', { class: 'muted' }, ` · ${notes.join('; ')}`) : null,
    ),
  );
}
