// Small SVG plots: lines over an x range, scatter plots of 2-D points, histograms.
// Each returns an <svg> element; data-* attributes say what was drawn.

import { svgEl } from './dom.js';
import { formatNumber } from './format.js';

const PADDING = { left: 44, right: 12, top: 26, bottom: 30 };

/** A linear map from a domain to a range of pixels. */
function scale([domainLow, domainHigh], [rangeLow, rangeHigh]) {
  const span = domainHigh - domainLow || 1;
  return (value) => rangeLow + ((value - domainLow) / span) * (rangeHigh - rangeLow);
}

/** Round tick values (1, 2 or 5 × 10^k apart) covering [low, high]. */
export function niceTicks(low, high, count = 5) {
  if (!(high > low)) return [low];
  const rough = (high - low) / count;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((factor) => factor * power).find((candidate) => candidate >= rough);
  const ticks = [];
  for (let tick = Math.ceil(low / step) * step; tick <= high + step * 1e-9; tick += step) {
    ticks.push(Math.abs(tick) < step * 1e-9 ? 0 : tick);
  }
  return ticks;
}

/** [min, max] of finite values, widened a little so nothing sits on the frame. */
export function extent(values, margin = 0.05) {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return [0, 1];
  let low = Math.min(...finite);
  let high = Math.max(...finite);
  if (low === high) {
    low -= 1;
    high += 1;
  }
  const pad = (high - low) * margin;
  return [low - pad, high + pad];
}

function frame({ width, height, title, dataset, xDomain, yDomain, xTicks, yTicks, xLabel, yLabel, top = PADDING.top }) {
  const x = scale(xDomain, [PADDING.left, width - PADDING.right]);
  const y = scale(yDomain, [height - PADDING.bottom, top]);
  const grid = [
    ...yTicks.map((tick) =>
      svgEl(
        'g',
        { class: 'tick' },
        svgEl('line', { x1: PADDING.left, x2: width - PADDING.right, y1: y(tick), y2: y(tick) }),
        svgEl('text', { x: PADDING.left - 6, y: y(tick) + 4, 'text-anchor': 'end' }, formatNumber(tick)),
      ),
    ),
    ...xTicks.map(({ value, label }) =>
      svgEl(
        'g',
        { class: 'tick' },
        svgEl('line', { x1: x(value), x2: x(value), y1: top, y2: height - PADDING.bottom }),
        svgEl('text', { x: x(value), y: height - PADDING.bottom + 16, 'text-anchor': 'middle' }, label),
      ),
    ),
  ];
  const svg = svgEl(
    'svg',
    { class: 'plot', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': title, dataset },
    svgEl('text', { class: 'plot-title', x: PADDING.left, y: 16 }, title),
    svgEl('g', { class: 'grid' }, grid),
    xLabel ? svgEl('text', { class: 'axis-label', x: width - PADDING.right, y: height - 4, 'text-anchor': 'end' }, xLabel) : null,
    yLabel ? svgEl('text', { class: 'axis-label', x: 4, y: top - 4 }, yLabel) : null,
  );
  return { svg, x, y };
}

function pathData(points, x, y) {
  return points.map(([px, py], index) => `${index ? 'L' : 'M'}${x(px).toFixed(2)},${y(py).toFixed(2)}`).join('');
}

/**
 * Lines over a shared x axis. series: [{points: [[x, y], ...], className, label, dataset}].
 * xTicks: [{value, label}].
 */
export function linePlot({ title, series, xTicks, width = 640, height = 300, dataset = {}, xLabel, yLabel, legend = true }) {
  const xs = series.flatMap((line) => line.points.map(([px]) => px));
  const ys = series.flatMap((line) => line.points.map(([, py]) => py));
  const xDomain = [Math.min(...xs), Math.max(...xs)];
  const yDomain = extent(ys);
  const ticks = xTicks ?? niceTicks(...xDomain).map((value) => ({ value, label: formatNumber(value) }));
  const { svg, x, y } = frame({ width, height, title, dataset, xDomain, yDomain, xTicks: ticks, yTicks: niceTicks(...yDomain), xLabel, yLabel });
  svg.append(
    svgEl(
      'g',
      { class: 'lines' },
      series.map((line) =>
        svgEl('path', {
          class: `line ${line.className ?? ''}`,
          d: pathData(line.points, x, y),
          dataset: { points: line.points.length, ...line.dataset },
        }),
      ),
    ),
  );
  const labelled = series.filter((line) => line.label);
  if (legend && labelled.length) {
    svg.append(
      svgEl(
        'g',
        { class: 'legend', transform: `translate(${width - PADDING.right - 150},${PADDING.top + 4})` },
        labelled.map((line, index) =>
          svgEl(
            'g',
            { transform: `translate(0,${index * 16})` },
            svgEl('line', { class: `line ${line.className ?? ''}`, x1: 0, x2: 22, y1: 0, y2: 0 }),
            svgEl('text', { x: 28, y: 4 }, line.label),
          ),
        ),
      ),
    );
  }
  return svg;
}

/**
 * 2-D points on equal axes (so rotations and stretches look like themselves), with optional
 * segments between neighbours. points: [{x, y, color, dataset}]; segments: [[i, j], ...]; marks:
 * points drawn as diamonds over the rest ([{x, y, dataset}]).
 */
export function scatterPlot({ title, points, segments = [], marks = [], size = 260, dataset = {}, xLabel, yLabel }) {
  const [low, high] = extent([...points, ...marks].flatMap((point) => [point.x, point.y, 0]), 0.08);
  const domain = [low, high];
  const ticks = niceTicks(low, high, 4);
  const { svg, x, y } = frame({
    width: size + PADDING.left - PADDING.bottom,
    height: size,
    title,
    dataset,
    xDomain: domain,
    yDomain: domain,
    xTicks: ticks.map((value) => ({ value, label: formatNumber(value) })),
    yTicks: ticks,
    xLabel,
    yLabel,
  });
  svg.append(
    svgEl(
      'g',
      { class: 'axes-zero' },
      svgEl('line', { x1: x(low), x2: x(high), y1: y(0), y2: y(0) }),
      svgEl('line', { x1: x(0), x2: x(0), y1: y(low), y2: y(high) }),
    ),
    svgEl(
      'g',
      { class: 'mesh' },
      segments.map(([from, to]) =>
        svgEl('line', { x1: x(points[from].x), y1: y(points[from].y), x2: x(points[to].x), y2: y(points[to].y) }),
      ),
    ),
    svgEl(
      'g',
      { class: 'points' },
      points.map((point) =>
        svgEl('circle', {
          cx: x(point.x).toFixed(2),
          cy: y(point.y).toFixed(2),
          r: 3.2,
          fill: point.color,
          dataset: { point: '', ...point.dataset },
        }),
      ),
    ),
    svgEl(
      'g',
      { class: 'marks' },
      marks.map((mark) => {
        const [cx, cy] = [x(mark.x), y(mark.y)];
        return svgEl('path', { class: 'mark', d: `M${cx - 6},${cy}L${cx},${cy - 6}L${cx + 6},${cy}L${cx},${cy + 6}Z`, dataset: mark.dataset });
      }),
    ),
  );
  return svg;
}

/**
 * A histogram of values; `annotations` are lines of text written on the plot
 * ([{text, dataset}]), e.g. the dead fraction of a ReLU.
 */
export function histogram({ title, values, bins = 20, annotations = [], width = 360, height = 200, dataset = {} }) {
  const finite = values.filter(Number.isFinite);
  const low = finite.length ? Math.min(...finite) : 0;
  const high = finite.length ? Math.max(...finite) : 1;
  const binCount = high > low ? bins : 1;
  const binWidth = high > low ? (high - low) / binCount : 1;
  const counts = new Array(binCount).fill(0);
  for (const value of finite) counts[Math.min(binCount - 1, Math.floor((value - low) / binWidth))] += 1;
  const edges = high > low ? [low, high] : [low - 0.5, low + 0.5];
  const top = PADDING.top + 16 * annotations.length + 6;
  const { svg, x, y } = frame({
    width,
    height: height + top - PADDING.top,
    top,
    title,
    dataset: { bins: binCount, values: finite.length, ...dataset },
    xDomain: edges,
    yDomain: [0, Math.max(1, ...counts) * 1.05],
    xTicks: [edges[0], edges[1]].map((value) => ({ value, label: formatNumber(high > low ? value : low) })),
    yTicks: niceTicks(0, Math.max(1, ...counts), 3).filter(Number.isInteger),
    yLabel: 'count',
  });
  svg.append(
    svgEl(
      'g',
      { class: 'bars' },
      counts.map((count, bin) => {
        const left = x(edges[0] + bin * ((edges[1] - edges[0]) / binCount));
        const right = x(edges[0] + (bin + 1) * ((edges[1] - edges[0]) / binCount));
        return svgEl(
          'rect',
          {
            class: 'bar',
            x: left + 0.5,
            y: y(count),
            width: Math.max(1, right - left - 1),
            height: y(0) - y(count),
            dataset: { count },
          },
          svgEl('title', {}, `${count} value${count === 1 ? '' : 's'}`),
        );
      }),
    ),
    svgEl(
      'g',
      { class: 'annotations' },
      annotations.map((annotation, index) =>
        svgEl(
          'text',
          { x: PADDING.left, y: 16 * (index + 2) + 2, dataset: annotation.dataset },
          annotation.text,
        ),
      ),
    ),
  );
  return svg;
}
