// The server's JSON API, as the page uses it. Paths are relative to /explorer/, so the page
// keeps working behind a proxy that mounts the service under a prefix.

/** A failed request, carrying the server's own error message and request id. */
export class ApiError extends Error {
  constructor(message, status, requestId) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.requestId = requestId;
  }
}

// A server with LAYERSERVE_INFER_TOKEN answers inference and traces with 401 until the page
// sends its token: the page asks for it once and keeps it for the tab's session.
const TOKEN_KEY = 'layerserve-inference-token';

function askForToken() {
  const token = window.prompt('This server needs its inference token (LAYERSERVE_INFER_TOKEN):');
  if (!token || !token.trim()) return false;
  sessionStorage.setItem(TOKEN_KEY, token.trim());
  return true;
}

async function request(path, { method = 'GET', body } = {}, retried = false) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(`../v2${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new ApiError(`the server could not be reached (${error.message})`, 0, null);
  }
  if (response.status === 401 && !retried && (sessionStorage.getItem(TOKEN_KEY) !== token || askForToken())) {
    return request(path, { method, body }, true); // a token another request was given meanwhile, or a new one
  }
  const document = await response.json().catch(() => null);
  if (!response.ok) {
    const message = document && document.error ? document.error : `HTTP ${response.status} ${response.statusText}`;
    const requestId = (document && document.request_id) || response.headers.get('X-Request-ID');
    throw new ApiError(message, response.status, requestId);
  }
  return document;
}

const modelPath = (name) => `/models/${encodeURIComponent(name)}`;

/** {name, version, extensions} */
export const serverMetadata = () => request('');

/** [{name, versions, platform, state, ready, reason}] */
export const listModels = () => request('/models').then((document) => document.models);

/** {name, versions, platform, description, max_batch_size, inputs, outputs} */
export const modelMetadata = (name) => request(modelPath(name));

/** {layers: [...], parameter_count, parameter_bytes?, macs?, serving_path} */
export const modelLayers = (name) => request(`${modelPath(name)}/layers`);

/** inputs: [{name, shape, datatype, data}] → {outputs: [{name, datatype, shape, data}]} */
export const infer = (name, inputs) => request(`${modelPath(name)}/infer`, { method: 'POST', body: { inputs } });

/** One layer with its parameter values: {parameters: [{name, shape, values}], weight_layout?, ...} */
export const layerValues = (name, layer) => request(`${modelPath(name)}/layers/${encodeURIComponent(layer)}?values=true`);

/** The layer registry: [{name, family, shape_rule, hyperparameters, formula?, ...}] */
export const layerTypes = () => request('/layer-types').then((document) => document.layer_types);

/**
 * Same body as infer → every layer's output (the first max_values values), stats, steps, health.
 * `parameters` may ask for a what-if: {weights: {'<layer>.<param>': values}, activations: {'<layer>': type}}.
 */
export const trace = (name, inputs, parameters) =>
  request(`${modelPath(name)}/trace`, { method: 'POST', body: parameters ? { inputs, parameters } : { inputs } });
