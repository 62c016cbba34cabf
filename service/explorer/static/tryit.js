// The "try it" form: one textarea per model input, prefilled with an example batch, and the
// parsing of what a person typed into Open Inference Protocol input tensors.

import { el } from './dom.js';
import { formatShape } from './format.js';
import { nestedShape } from './tensors.js';

function zeros(shape) {
  return shape.length === 0 ? 0 : Array.from({ length: shape[0] }, () => zeros(shape.slice(1)));
}

function fitsSignature(value, input) {
  const shape = nestedShape(value);
  return shape.length === input.shape.length && input.shape.every((size, axis) => size === -1 || size === shape[axis]);
}

/** A batch for the input: the model's example (its definition's `example`) if it fits the signature, else one sample of zeros. */
export function exampleBatch(metadata, input) {
  const example = metadata.example?.[input.name];
  if (example && fitsSignature(example, input)) return example;
  return zeros([1, ...input.shape.slice(1)]);
}

/** Nested arrays with the innermost lists on one line each: [[1, 0],\n [0, 1]]. */
export function formatBatch(value, depth = 0) {
  if (!Array.isArray(value)) return String(value);
  if (!value.some(Array.isArray)) return `[${value.join(', ')}]`;
  const indent = ' '.repeat(depth + 1);
  return `[${value.map((item, index) => (index ? indent : '') + formatBatch(item, depth + 1)).join(',\n')}]`;
}

/**
 * What a textarea holds as an input tensor. A single sample (one nesting level less than the
 * batch) is sent as a batch of one; shapes and values are otherwise left to the server to judge.
 */
export function parseInput(text, input) {
  let value;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`input '${input.name}': not JSON (${error.message})`);
  }
  if (!Array.isArray(value)) value = [value];
  let shape = nestedShape(value, `input '${input.name}'`);
  if (shape.length === input.shape.length - 1) {
    value = [value];
    shape = [1, ...shape];
  }
  return { name: input.name, shape, datatype: input.datatype, data: value };
}

/** The form: returns {form, readInputs()}; onRun is called with the parsed inputs. */
export function tryItForm(metadata, onRun) {
  const fields = metadata.inputs.map((input) => {
    const textarea = el('textarea', {
      id: `input-${input.name}`,
      name: input.name,
      rows: 4,
      spellcheck: 'false',
      wrap: 'off',
      dataset: { input: input.name },
    });
    textarea.value = formatBatch(exampleBatch(metadata, input));
    textarea.rows = Math.min(12, Math.max(2, textarea.value.split('\n').length));
    return { input, textarea };
  });
  const readInputs = () => fields.map(({ input, textarea }) => parseInput(textarea.value, input));
  const button = el('button', { type: 'submit', class: 'run', dataset: { action: 'run' } }, 'Run');
  const form = el(
    'form',
    { class: 'try-it', novalidate: true },
    fields.map(({ input, textarea }) =>
      el(
        'label',
        { class: 'field', for: textarea.id },
        el('span', { class: 'field-name' }, input.name, ' '),
        el('span', { class: 'muted' }, `${input.datatype} ${formatShape(input.shape)} — a batch, one row per sample`),
        textarea,
      ),
    ),
    el('div', { class: 'actions' }, button, el('span', { class: 'muted' }, 'Ctrl+Enter runs too')),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    onRun(readInputs, button);
  });
  form.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  return { form, readInputs };
}
