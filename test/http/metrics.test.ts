// A route's observer finds its series by an integer key: every method, action and status must
// still land in its own series, and methods outside the closed set share the one "other" series.
// List series: one per list only up to the bound, per organisation always; and with thousands of
// lists no scrape, stats() or page walks them all (counted through NumberSet.size, the read every
// walk of the lists makes, and DncStore.lists, the walk itself).

import { beforeAll, describe, expect, it, vi } from 'vitest';
import { IdncMetrics } from '../../src/http/metrics.js';
import { Dnc } from '../../src/index.js';
import { DncStore } from '../../src/store/dnc-store.js';
import { NumberSet } from '../../src/store/number-set.js';

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

/** The value of the series `name` with exactly these labels (undefined: no such series). */
function series(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(labels === '' ? `${name} ` : `${name}{${labels}} `));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

const ORG_ONLY = { serverWide: false, org: 'acme' } as const;

describe('IdncMetrics list series', () => {
  it('exports a series per list up to listSeriesMax lists a scrape may see, and per organisation always', async () => {
    const dnc = new Dnc();
    const metrics = new IdncMetrics({ listSeriesMax: 3 });
    metrics.bindEngine(dnc);
    await dnc.add('5039367187,2125551234', { org: 'acme' });
    await dnc.add('4155550100', { org: 'acme', projId: 'p1' });
    await dnc.add('4155550101', { org: 'acme', projId: 'p2' });
    await dnc.add('4155550102', { org: 'zeta', projId: 'z1' });
    // acme's admin sees 3 lists (at the bound), the operator 4 (above it).
    const atBound = await metrics.text(ORG_ONLY);
    expect(series(atBound, 'idnc_list_numbers', 'org="acme",project=""')).toBe(2);
    expect(series(atBound, 'idnc_list_numbers', 'org="acme",project="p2"')).toBe(1);
    expect(series(atBound, 'idnc_lists')).toBe(3);
    expect(series(atBound, 'idnc_organisation_lists', 'org="acme"')).toBe(3);
    expect(series(atBound, 'idnc_organisation_numbers', 'org="acme"')).toBe(4);
    expect(atBound).not.toContain('zeta');
    const above = await metrics.text();
    expect(above).not.toMatch(/^idnc_list_numbers\{/m);
    expect(series(above, 'idnc_lists')).toBe(4);
    expect(series(above, 'idnc_organisation_lists', 'org="zeta"')).toBe(1);
    expect(series(above, 'idnc_organisation_numbers', 'org="acme"')).toBe(4);
    // One more list of acme takes its admin above the bound too; a drop brings it back.
    await dnc.add('4155550103', { org: 'acme', projId: 'p3' });
    const orgAbove = await metrics.text(ORG_ONLY);
    expect(orgAbove).not.toMatch(/^idnc_list_numbers\{/m);
    expect(series(orgAbove, 'idnc_organisation_lists', 'org="acme"')).toBe(4);
    await dnc.dropList({ org: 'acme', projId: 'p1' });
    const again = await metrics.text(ORG_ONLY);
    expect(series(again, 'idnc_list_numbers', 'org="acme",project="p3"')).toBe(1);
    expect(series(again, 'idnc_list_numbers', 'org="acme",project="p1"')).toBeUndefined();
    expect(series(again, 'idnc_organisation_numbers', 'org="acme"')).toBe(4);
  });

  it('a scrape after the engine closed shows no lists instead of failing', async () => {
    const dnc = new Dnc();
    const metrics = new IdncMetrics();
    metrics.bindEngine(dnc);
    await dnc.add('5039367187', { org: 'acme' });
    await dnc.close();
    const text = await metrics.text(ORG_ONLY);
    expect(series(text, 'idnc_lists')).toBe(0);
    expect(text).not.toMatch(/^idnc_list_numbers\{/m);
  });

  it('shows a view limited to projects those lists alone, without the organisation totals', async () => {
    const dnc = new Dnc();
    const metrics = new IdncMetrics();
    metrics.bindEngine(dnc);
    await dnc.add('5039367187', { org: 'acme' });
    await dnc.add('4155550100', { org: 'acme', projId: 'p1' });
    await dnc.add('4155550101', { org: 'acme', projId: 'p2' });
    const text = await metrics.text({ serverWide: false, org: 'acme', projects: ['p1', 'gone'] });
    expect(series(text, 'idnc_list_numbers', 'org="acme",project="p1"')).toBe(1);
    expect(series(text, 'idnc_lists')).toBe(1);
    expect(text).not.toContain('project="p2"');
    expect(text).not.toContain('project=""');
    expect(text).not.toMatch(/^idnc_organisation_/m);
  });
});

describe('nothing walks every list per request', () => {
  const LISTS = 2000;
  let dnc: Dnc;

  beforeAll(async () => {
    dnc = new Dnc();
    await dnc.add('5039367187', { org: 'acme' });
    for (let i = 0; i < LISTS; i++) await dnc.add('4155550100', { org: 'acme', projId: `p${i}` });
  });

  /** How many lists' sizes `work` reads, and that it never iterates the whole store. */
  function listsRead(work: () => unknown): number {
    const sizes = vi.spyOn(NumberSet.prototype, 'size', 'get');
    const walks = vi.spyOn(DncStore.prototype, 'lists');
    try {
      work();
      expect(walks).not.toHaveBeenCalled();
      return sizes.mock.calls.length;
    } finally {
      sizes.mockRestore();
      walks.mockRestore();
    }
  }

  it('the seam counts: reading stats().lists reads every list', () => {
    expect(() => listsRead(() => dnc.stats().lists)).toThrow();
    const sizes = vi.spyOn(NumberSet.prototype, 'size', 'get');
    void dnc.stats().lists;
    expect(sizes.mock.calls.length).toBeGreaterThan(LISTS);
    sizes.mockRestore();
  });

  it('stats(), a page of lists and a key-limited lookup read a bounded number of lists', () => {
    expect(listsRead(() => dnc.stats().organisations)).toBe(0);
    expect(listsRead(() => dnc.stats().log)).toBe(0);
    expect(listsRead(() => dnc.lists({ org: 'acme', limit: 10, after: 'p1500' }))).toBeLessThanOrEqual(11);
    expect(listsRead(() => dnc.count({ org: 'acme', projId: 'p7' }))).toBeLessThanOrEqual(1);
  });

  it('a metrics scrape above the bound reads no list, below it at most the bound', async () => {
    const above = new IdncMetrics({ listSeriesMax: 100 });
    above.bindEngine(dnc);
    let text = '';
    expect(listsRead(() => void above.text().then((t) => (text = t)))).toBe(0);
    await vi.waitFor(() => expect(text).toContain('idnc_lists'));
    expect(series(text, 'idnc_lists')).toBe(LISTS + 1);
    const projects = Array.from({ length: 50 }, (_, i) => `p${i}`);
    expect(listsRead(() => void above.text({ serverWide: false, org: 'acme', projects }))).toBeLessThanOrEqual(2 * projects.length);
    const below = new IdncMetrics({ listSeriesMax: LISTS + 1 });
    below.bindEngine(dnc);
    expect(listsRead(() => void below.text())).toBeLessThanOrEqual(2 * (LISTS + 1));
  });
});
