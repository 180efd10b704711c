// The usage chart: uPlot, in a chunk of its own that only the dashboard loads. The canvas is a
// picture for sighted readers; the page gives the same figures as a summary and as a table.
import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export type ChartSeries = { label: string; colour: string; values: number[] };

const dayStart = (day: string) => Date.parse(`${day}T00:00:00Z`) / 1000;
// The axis in the reader's locale ("3 Nov", "Nov 3"), for the UTC days the API counts in.
const dayLabel = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", timeZone: "UTC" });
const count = new Intl.NumberFormat(undefined, { notation: "compact" });

export function UsageChart(props: { days: string[]; series: ChartSeries[] }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const data: uPlot.AlignedData = [props.days.map(dayStart), ...props.series.map((s) => s.values)];
    const plot = new uPlot(
      {
        width: Math.max(280, el.clientWidth),
        height: 260,
        legend: { show: false },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true } },
        // The API counts UTC days: ticks at UTC midnights, labelled as such (dayLabel).
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
        axes: [
          {
            stroke: "#4f5a69",
            grid: { stroke: "#eceff3" },
            values: (_u, splits) => splits.map((t) => dayLabel.format(new Date(t * 1000))),
          },
          {
            stroke: "#4f5a69",
            grid: { stroke: "#eceff3" },
            size: 56,
            values: (_u, splits) => splits.map((v) => count.format(v)),
          },
        ],
        series: [
          {},
          ...props.series.map((s) => ({
            label: s.label,
            stroke: s.colour,
            width: 2,
            points: { show: props.days.length <= 31 },
          })),
        ],
      },
      data,
      el,
    );
    const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(280, el.clientWidth), height: 260 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [props.days, props.series]);
  return <div ref={box} aria-hidden="true" />;
}
