/** GET /metrics of a server on 127.0.0.1:`port`; the text format (expects status 200). */
export async function scrape(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
}

/** Value of one series in a scrape; `absentAs` is returned when the series is not exposed (else it throws). */
export function metricValue(text: string, series: string, absentAs?: number): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  if (line === undefined && absentAs !== undefined) return absentAs;
  if (line === undefined) throw new Error(`series ${series} not found`);
  return Number(line.slice(series.length + 1));
}
