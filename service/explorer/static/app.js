// The explorer page: the model list, and per model (#/models/<name>) its stack diagram, layer
// table, small layers' weights as the lessons draw them (editable in a what-if panel for small
// models), a "try it" form, the trace of the current input and pictures of what it computes.
// main#view carries data-status="loading" | "ready" | "error" once everything on it is drawn.

import * as api from './api.js';
import { stackDiagram } from './diagram.js';
import { el, replaceChildren } from './dom.js';
import { formatBytes, formatCount, formatShape } from './format.js';
import { layerTable, servingPathNote } from './layer_table.js';
import { pictures, picturesFor } from './pictures.js';
import { valueTable } from './tensors.js';
import { traceView } from './trace.js';
import { tryItForm } from './tryit.js';
import { TABLE_PARAMETERS, WHAT_IF_PARAMETERS, activationChoices, chosenActivations, editedWeights, layerWeights, weightTable } from './weights.js';

const view = document.getElementById('view');
const modelList = document.getElementById('model-list');
const LOADING_POLL_MS = 2000;

// Each navigation gets a number; work started for an earlier one does not draw over a later one.
let currentNavigation = 0;

function modelHref(name) {
  return `#/models/${encodeURIComponent(name)}`;
}

function selectedModel() {
  const match = /^#\/models\/([^/]+)$/.exec(window.location.hash);
  return match ? decodeURIComponent(match[1]) : null;
}

function stateBadge(model) {
  return el('span', { class: `badge state-${model.state.toLowerCase()}`, dataset: { state: model.state } }, model.state);
}

function errorBox(message, dataset = {}) {
  return el('div', { class: 'error', role: 'alert', dataset }, message);
}

function describeError(error) {
  return error.requestId ? `${error.message} (request ${error.requestId})` : error.message;
}

/** By name, whatever order the server lists them in (hot-loaded models come last there). */
function byName(models) {
  return [...models].sort((a, b) => a.name.localeCompare(b.name));
}

function renderModelList(models, selected) {
  replaceChildren(
    modelList,
    models.map((model) =>
      el(
        'li',
        { class: model.name === selected ? 'active' : null, dataset: { model: model.name, state: model.state } },
        el('a', { href: modelHref(model.name), 'aria-current': model.name === selected ? 'page' : null }, model.name),
        stateBadge(model),
        model.reason ? el('p', { class: 'reason', dataset: { reason: model.name } }, model.reason) : null,
      ),
    ),
  );
}

function overview(models) {
  return [
    el('h1', {}, 'Models'),
    el('p', { class: 'muted' }, 'Pick a model to see its layers, run it, and trace a batch through it layer by layer.'),
    el(
      'table',
      { class: 'overview' },
      el('thead', {}, el('tr', {}, ['model', 'state', 'versions', 'load error'].map((name) => el('th', { scope: 'col' }, name)))),
      el(
        'tbody',
        {},
        models.map((model) =>
          el(
            'tr',
            { dataset: { model: model.name, state: model.state } },
            el('td', {}, el('a', { href: modelHref(model.name) }, model.name)),
            el('td', {}, stateBadge(model)),
            el('td', {}, model.versions.join(', ') || '—'),
            el('td', { class: 'reason' }, model.reason ?? ''),
          ),
        ),
      ),
    ),
  ];
}

const DIAGRAM_MIN_WIDTH = 200;

/** The width a panel's content has in the view (the diagram wraps to it). */
function diagramWidth() {
  const panelPadding = 2 * 19.2 + 2; // .panel: 1.2rem each side and its border
  return Math.max(DIAGRAM_MIN_WIDTH, view.clientWidth - panelPadding);
}

function section(title, id, ...content) {
  return el('section', { id, class: 'panel' }, el('h2', {}, title), ...content);
}

function signature(metadata) {
  const tensors = (list) => list.map((tensor) => `${tensor.name} ${tensor.datatype} ${formatShape(tensor.shape)}`).join(', ');
  return el('p', { class: 'signature' }, el('span', { class: 'muted' }, 'inputs '), tensors(metadata.inputs), el('span', { class: 'muted' }, ' → outputs '), tensors(metadata.outputs));
}

function totals(layersDocument) {
  const parts = [`${formatCount(layersDocument.parameter_count)} parameters`];
  if (layersDocument.parameter_bytes !== undefined) parts.push(formatBytes(layersDocument.parameter_bytes));
  if (layersDocument.macs !== undefined) parts.push(`${formatCount(layersDocument.macs)} multiply-adds per sample`);
  const count = layersDocument.layers.length;
  return el('p', { class: 'totals' }, `${count} layer${count === 1 ? '' : 's'} · ${parts.join(' · ')}`);
}

function outputsView(response) {
  return el(
    'div',
    { class: 'outputs', dataset: { outputs: response.model_name } },
    response.outputs.map((output) => valueTable(output, { label: output.name, maxRows: 16, maxColumns: 16, dataset: { output: output.name } })),
  );
}

function scrollToTraceOf(layerName) {
  document.getElementById(`trace-${layerName}`)?.scrollIntoView({ behavior: 'smooth', block: 'start' });
}

/** Infer and trace the form's inputs; shows outputs or the server's error, then the trace (with the what-if). */
async function runModel(metadata, readInputs, button, places, navigation, whatIf) {
  let inputs;
  try {
    inputs = readInputs();
  } catch (error) {
    replaceChildren(places.outputs, errorBox(error.message, { error: 'input' }));
    return;
  }
  button.disabled = true;
  places.outputs.dataset.status = 'loading';
  places.trace.dataset.status = 'loading';
  const [inferred, traced] = await Promise.allSettled([api.infer(metadata.name, inputs), api.trace(metadata.name, inputs, whatIf.parameters())]);
  button.disabled = false;
  if (navigation !== currentNavigation) return;
  replaceChildren(
    places.outputs,
    inferred.status === 'fulfilled' ? outputsView(inferred.value) : errorBox(describeError(inferred.reason), { error: 'infer' }),
  );
  places.outputs.dataset.status = inferred.status === 'fulfilled' ? 'ready' : 'error';
  replaceChildren(
    places.trace,
    traced.status === 'fulfilled' ? traceView(traced.value, whatIf.weightsOf) : errorBox(`no trace: ${describeError(traced.reason)}`, { error: 'trace' }),
  );
  places.trace.dataset.status = traced.status === 'fulfilled' ? 'ready' : 'error';
}

async function renderPictures(metadata, place, navigation, whatIf) {
  place.dataset.status = 'loading';
  try {
    const figures = await pictures(metadata, whatIf.parameters());
    if (navigation === currentNavigation) replaceChildren(place, figures);
    place.dataset.status = 'ready';
  } catch (error) {
    if (navigation === currentNavigation) replaceChildren(place, errorBox(`no pictures: ${describeError(error)}`, { error: 'pictures' }));
    place.dataset.status = 'error';
  }
}

let layerTypesCache = null;

/**
 * The what-if state of a model's page: its small linear layers' declared weights, the panel's
 * edits and activation choices, and the trace parameters they make ({} when nothing changed).
 */
async function whatIfState(metadata, layersDocument) {
  const tableLayers = layersDocument.layers.filter((layer) => layer.weight_layout && layer.parameter_count <= TABLE_PARAMETERS);
  const declared = (await Promise.all(tableLayers.map((layer) => api.layerValues(metadata.name, layer.name)))).map(layerWeights);
  const editable = layersDocument.parameter_count <= WHAT_IF_PARAMETERS;
  if (editable) layerTypesCache ??= await api.layerTypes();
  let current = {};
  const state = {
    declared,
    editable,
    parameters: () => (Object.keys(current).length ? current : undefined),
    read(container) {
      const weights = editedWeights(container, declared);
      const activations = chosenActivations(container, layersDocument.layers);
      current = {};
      if (Object.keys(weights).length) current.weights = weights;
      if (Object.keys(activations).length) current.activations = activations;
    },
    /** A layer's weights as the current trace runs with them. */
    weightsOf(name) {
      const weights = declared.find((entry) => entry.name === name);
      if (!weights) return null;
      const edited = current.weights?.[`${name}.weight`];
      return edited ? { ...weights, weight: edited, bias: current.weights[`${name}.bias`] ?? weights.bias } : weights;
    },
  };
  return state;
}

function weightsSection(whatIf, layersDocument, onChange) {
  if (!whatIf.editable) {
    return whatIf.declared.length ? section('Weights', 'weights', whatIf.declared.map((weights) => weightTable(weights))) : null;
  }
  const choices = activationChoices(layersDocument.layers, layerTypesCache ?? [], onChange);
  if (!whatIf.declared.length && !choices.length) return null;
  return section(
    'What if',
    'what-if',
    el('p', { class: 'muted' }, 'Change a weight or pick another activation: the trace and the pictures below are computed again by the server for this page only (the served model is not changed; the outputs under "Try it" stay the served ones).'),
    whatIf.declared.map((weights) => weightTable(weights, { editable: true, onEdit: onChange })),
    choices.length ? el('div', { class: 'activation-choices' }, choices) : null,
  );
}

async function modelView(entry, navigation) {
  const title = [el('h1', {}, entry.name, ' ', stateBadge(entry))];
  if (!entry.ready) {
    const why = entry.state === 'LOADING' ? 'The model is still loading; this page refreshes when it is ready.' : 'The model failed to load:';
    replaceChildren(view, title, el('p', {}, why), entry.reason ? errorBox(entry.reason, { error: 'load' }) : null);
    return entry.state === 'LOADING' ? 'loading' : 'ready';
  }
  const [metadata, layersDocument] = await Promise.all([api.modelMetadata(entry.name), api.modelLayers(entry.name)]);
  const whatIf = await whatIfState(metadata, layersDocument);
  if (navigation !== currentNavigation) return 'stale';
  const places = {
    outputs: el('div', { class: 'run-result', 'aria-live': 'polite' }),
    trace: el('div', { class: 'trace-place' }),
    pictures: el('div', { class: 'pictures-place' }),
  };
  const { form, readInputs } = tryItForm(metadata, (read, button) => runModel(metadata, read, button, places, currentNavigation, whatIf));
  const hasPictures = picturesFor(metadata).length > 0;
  const button = form.querySelector('button[type=submit]');
  const panel = weightsSection(whatIf, layersDocument, () => {
    whatIf.read(panel);
    runModel(metadata, readInputs, button, places, currentNavigation, whatIf);
    if (hasPictures) renderPictures(metadata, places.pictures, currentNavigation, whatIf);
  });
  replaceChildren(
    view,
    title,
    metadata.description ? el('p', { class: 'description' }, metadata.description) : null,
    signature(metadata),
    totals(layersDocument),
    section('Stack', 'stack', el('div', { class: 'diagram-scroll' }, stackDiagram(metadata, layersDocument.layers, scrollToTraceOf, diagramWidth()))),
    section('Layers', 'layers', layerTable(layersDocument), servingPathNote(layersDocument)),
    panel,
    section('Try it', 'try-it', form, places.outputs),
    section('Trace', 'trace', el('p', { class: 'muted' }, 'The batch from the form, layer by layer, as the definition declares the layers.'), places.trace),
    hasPictures ? section('Pictures', 'pictures', places.pictures) : null,
  );
  await Promise.all([
    runModel(metadata, readInputs, button, places, navigation, whatIf),
    hasPictures ? renderPictures(metadata, places.pictures, navigation, whatIf) : null,
  ]);
  return 'ready';
}

async function route() {
  currentNavigation += 1;
  const navigation = currentNavigation;
  const selected = selectedModel();
  view.dataset.status = 'loading';
  view.dataset.model = selected ?? '';
  let status;
  try {
    const models = byName(await api.listModels());
    if (navigation !== currentNavigation) return;
    renderModelList(models, selected);
    if (selected === null) {
      replaceChildren(view, overview(models));
      document.title = 'layerserve explorer';
      status = 'ready';
    } else {
      document.title = `${selected} · layerserve explorer`;
      const entry = models.find((model) => model.name === selected);
      if (entry) {
        status = await modelView(entry, navigation);
      } else {
        replaceChildren(view, el('h1', {}, selected), errorBox(`no model named '${selected}'; pick one from the list`, { error: 'unknown' }));
        status = 'error';
      }
    }
    if (models.some((model) => model.state === 'LOADING')) {
      setTimeout(() => navigation === currentNavigation && route(), LOADING_POLL_MS);
    }
  } catch (error) {
    if (navigation !== currentNavigation) return;
    replaceChildren(view, errorBox(describeError(error), { error: 'page' }));
    status = 'error';
  }
  if (navigation === currentNavigation && status !== 'stale') view.dataset.status = status;
}

async function showServer() {
  try {
    const server = await api.serverMetadata();
    document.getElementById('server-info').textContent = `${server.name} ${server.version}`;
  } catch {
    // the page still works without the version line
  }
}

window.addEventListener('hashchange', route);
showServer();
route();
