// Numbers, shapes and sizes as a person reads them.

/** FP32 values arrive as doubles (1.2000000476837158); four significant digits read as 1.2. */
export function formatNumber(value) {
  if (value === null || value === undefined) return '–';
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? '∞' : '−∞';
  if (value === 0) return '0';
  const magnitude = Math.abs(value);
  if (magnitude >= 1e5 || magnitude < 1e-3) return value.toExponential(2);
  return String(Number.parseFloat(value.toPrecision(4)));
}

export function formatPercent(fraction) {
  return `${Number.parseFloat((100 * fraction).toFixed(1))}%`;
}

/** [-1, 2] → "[B, 2]": -1 is the batch dimension. */
export function formatShape(shape) {
  return `[${shape.map((size) => (size === -1 ? 'B' : size)).join(', ')}]`;
}

export function formatCount(count) {
  return count === undefined || count === null ? '–' : count.toLocaleString('en-US');
}

export function formatBytes(bytes) {
  if (bytes === undefined || bytes === null) return '–';
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${Number.parseFloat(value.toFixed(1))} ${units[unit]}`;
}

export function product(sizes) {
  return sizes.reduce((total, size) => total * size, 1);
}
