import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
} from 'chart.js';
import { createEffect, For, onCleanup, onMount } from 'solid-js';

Chart.register(
  BarController,
  BarElement,
  CategoryScale,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
);

export interface ChartSeries {
  label: string;
  values: number[];
  /** Plotted against the right-hand axis (for example a rate beside counts). */
  secondary?: boolean;
  kind?: 'bar' | 'line';
}

const palette = ['#2f5bd3', '#d9822b', '#2e9e6b', '#b34fb0', '#c43d3d', '#5f6b7a', '#1f9bb7', '#8a6d1f'];

/**
 * A bar or line chart (Chart.js) with its numbers also in a table for screen readers and copying. The
 * canvas is labelled with `title`.
 */
export function ChartView(props: {
  title: string;
  labels: string[];
  series: ChartSeries[];
  stacked?: boolean;
  secondaryLabel?: string;
}) {
  let canvas: HTMLCanvasElement | undefined;
  let chart: Chart | undefined;
  onMount(() => {
    if (!canvas) return;
    chart = new Chart(canvas, {
      type: 'bar',
      data: { labels: [], datasets: [] },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: 'index', intersect: false },
        plugins: { legend: { position: 'bottom' } },
        scales: {
          x: { stacked: props.stacked ?? false },
          y: { stacked: props.stacked ?? false, beginAtZero: true },
          y1: {
            display: props.series.some((series) => series.secondary),
            position: 'right',
            beginAtZero: true,
            grid: { drawOnChartArea: false },
            title: { display: Boolean(props.secondaryLabel), text: props.secondaryLabel ?? '' },
          },
        },
      },
    });
  });
  createEffect(() => {
    const labels = props.labels;
    const datasets = props.series.map((series, index) => ({
      type: series.kind ?? 'bar',
      label: series.label,
      data: series.values,
      yAxisID: series.secondary ? 'y1' : 'y',
      backgroundColor: palette[index % palette.length],
      borderColor: palette[index % palette.length],
    }));
    if (!chart) return;
    chart.data.labels = labels;
    chart.data.datasets = datasets as never;
    chart.update();
  });
  onCleanup(() => chart?.destroy());
  return (
    <figure class="chart">
      <div class="chart-canvas">
        <canvas ref={canvas} role="img" aria-label={props.title} />
      </div>
      <details class="chart-data">
        <summary>{props.title}: data</summary>
        <table class="table">
          <thead>
            <tr>
              <th scope="col">Time</th>
              <For each={props.series}>{(series) => <th scope="col">{series.label}</th>}</For>
            </tr>
          </thead>
          <tbody>
            <For each={props.labels}>
              {(label, row) => (
                <tr>
                  <th scope="row">{label}</th>
                  <For each={props.series}>{(series) => <td>{series.values[row()] ?? 0}</td>}</For>
                </tr>
              )}
            </For>
          </tbody>
        </table>
      </details>
    </figure>
  );
}
