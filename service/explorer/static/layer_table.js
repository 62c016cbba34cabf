// The layer table: index, name, type, hyper-parameters, wiring, shapes, parameters, and the
// parameter bytes and multiply-adds when the server reports them.

import { el } from './dom.js';
import { formatBytes, formatCount, formatShape } from './format.js';

function hyperparameters(values) {
  const entries = Object.entries(values);
  if (entries.length === 0) return el('span', { class: 'muted' }, '—');
  return el(
    'ul',
    { class: 'hyperparameters' },
    entries.map(([name, value]) => el('li', {}, el('span', { class: 'muted' }, `${name}=`), JSON.stringify(value))),
  );
}

function tensors(list) {
  return list.map((tensor) => el('div', { class: 'tensor-info muted' }, `${tensor.name} ${formatShape(tensor.shape)}`));
}

export function layerTable(layersDocument) {
  const { layers } = layersDocument;
  const hasBytes = layersDocument.parameter_bytes !== undefined || layers.some((layer) => layer.parameter_bytes !== undefined);
  const hasMacs = layersDocument.macs !== undefined || layers.some((layer) => layer.macs !== undefined);
  const columns = ['#', 'name', 'type', 'hyper-parameters', 'inputs', 'input shapes', 'output shape', 'parameters'];
  if (hasBytes) columns.push('bytes');
  if (hasMacs) columns.push('MACs / sample');
  const rows = layers.map((layer) =>
    el(
      'tr',
      { dataset: { layer: layer.name } },
      el('td', { class: 'num' }, layer.index),
      el('td', { class: 'name' }, layer.name),
      el('td', {}, layer.type),
      el('td', {}, hyperparameters(layer.hyperparameters)),
      el('td', {}, layer.inputs.join(', ')),
      el('td', { class: 'shape' }, layer.input_shapes.map(formatShape).join(', ')),
      el('td', { class: 'shape' }, formatShape(layer.output_shape)),
      el('td', { class: 'num', dataset: { column: 'parameters' } }, formatCount(layer.parameter_count), tensors(layer.parameters), tensors(layer.buffers.map((buffer) => ({ ...buffer, name: `${buffer.name} (buffer)` })))),
      hasBytes ? el('td', { class: 'num', dataset: { column: 'bytes' }, title: `${layer.parameter_bytes ?? '–'} bytes` }, formatBytes(layer.parameter_bytes)) : null,
      hasMacs ? el('td', { class: 'num', dataset: { column: 'macs' } }, formatCount(layer.macs)) : null,
    ),
  );
  const total = el(
    'tr',
    { class: 'total' },
    el('th', { scope: 'row', colspan: 7 }, `total over ${layers.length} layer${layers.length === 1 ? '' : 's'}`),
    el('td', { class: 'num', dataset: { column: 'parameters' } }, formatCount(layersDocument.parameter_count)),
    hasBytes ? el('td', { class: 'num', dataset: { column: 'bytes' }, title: `${layersDocument.parameter_bytes ?? '–'} bytes` }, formatBytes(layersDocument.parameter_bytes)) : null,
    hasMacs ? el('td', { class: 'num', dataset: { column: 'macs' } }, formatCount(layersDocument.macs)) : null,
  );
  return el(
    'div',
    { class: 'table-scroll' },
    el(
      'table',
      { class: 'layers' },
      el('thead', {}, el('tr', {}, columns.map((column) => el('th', { scope: 'col' }, column)))),
      el('tbody', {}, rows),
      el('tfoot', {}, total),
    ),
  );
}

/** What inference actually runs, when it differs from the declared layers (fused or dropped). */
export function servingPathNote(layersDocument) {
  const path = layersDocument.serving_path;
  if (!path || path.length === 0) return null;
  const steps = path.map((step) => (step.layers.length > 1 ? `${step.name} (${step.layers.join(' + ')})` : step.name));
  return el('p', { class: 'muted serving-path' }, `Serving path (${path.length} step${path.length === 1 ? '' : 's'}): `, steps.join(' → '));
}
