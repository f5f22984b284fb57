// A route's observer finds its series by an integer key: every method, action and status must
// still land in its own series, and methods outside the closed set share the one "other" series.

import { describe, expect, it } from 'vitest';
import { IdncMetrics } from '../../src/http/metrics.js';

function count(text: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`idnc_http_requests_total{${labels}}`));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

describe('IdncMetrics.routeObserver', () => {
  it('keeps method, action and status apart and folds unknown methods into "other"', async () => {
    const metrics = new IdncMetrics();
    const observe = metrics.routeObserver('/r');
    observe('GET', 'status', 200, 0.001);
    observe('GET', 'status', 200, 0.001);
    observe('POST', 'status', 200, 0.001);
    observe('GET', 'add', 200, 0.001);
    observe('GET', 'status', 400, 0.001);
    observe('PROPFIND', '', 404, 0.001);
    observe('MKCOL', '', 404, 0.001);
    metrics.observeRequest('/r', 'GET', 'status', 200, 0.001);
    const text = await metrics.text();
    expect(count(text, 'route="/r",method="GET",action="status",status_code="200"')).toBe(3);
    expect(count(text, 'route="/r",method="POST",action="status",status_code="200"')).toBe(1);
    expect(count(text, 'route="/r",method="GET",action="add",status_code="200"')).toBe(1);
    expect(count(text, 'route="/r",method="GET",action="status",status_code="400"')).toBe(1);
    expect(count(text, 'route="/r",method="other",action="",status_code="404"')).toBe(2);
    expect(text.split('\n').filter((l) => l.startsWith('idnc_http_requests_total{')).length).toBe(5);
  });
});
