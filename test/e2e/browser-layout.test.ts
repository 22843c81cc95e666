import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { ADMIN, ADMIN_PASSWORD } from '../helpers/app.js';
import { launchChromium, shot, signIn } from '../helpers/browser.js';
import { testDialects } from '../helpers/db.js';
import { ociImage } from '../helpers/oci.js';
import { eventually, push, startInstance, type Instance } from '../helpers/registry.js';

/** Pages whose forms hold checkboxes and labels with inline markup. */
const FORM_PAGES = ['/settings/auth', '/projects/lay/settings', '/gc', '/robots?project=lay', '/projects/lay/webhooks', '/schedules'];

/**
 * Every label of the page, measured: for a checkbox label, the checkbox's and its text's vertical centres; for any
 * other label, how many lines the text before its control takes (`Range.getClientRects`, one rect per line box).
 */
function measureLabels(page: Page) {
  // No named helper functions inside: tsx would wrap them in a `__name` call the page does not have.
  return page.evaluate(() => {
    const out: { text: string; checkbox: boolean; dy: number; textLeftOfBox: boolean; lines: number }[] = [];
    for (const label of document.querySelectorAll('main label')) {
      const control = label.querySelector('input:not([type=hidden]), select, textarea') as HTMLInputElement | null;
      if (!control || (label as HTMLElement).offsetParent === null) continue;
      const checkbox = control.type === 'checkbox';
      // The label's own non-blank text: all of it beside a checkbox, else what comes before the control.
      const rects: DOMRect[] = [];
      const walker = document.createTreeWalker(label, NodeFilter.SHOW_TEXT);
      for (let n = walker.nextNode(); n; n = walker.nextNode()) {
        if (!checkbox && !(n.compareDocumentPosition(control) & Node.DOCUMENT_POSITION_FOLLOWING)) break;
        if (!(n.textContent ?? '').trim()) continue;
        const r = document.createRange();
        r.selectNodeContents(n);
        rects.push(...[...r.getClientRects()].filter((x) => x.width > 0));
      }
      if (!rects.length) continue;
      const text = (label.textContent ?? '').trim().replace(/\s+/g, ' ');
      if (checkbox) {
        const box = control.getBoundingClientRect();
        const t = rects[0]!;
        out.push({ text, checkbox, dy: Math.abs(box.top + box.height / 2 - (t.top + t.height / 2)), textLeftOfBox: t.left < box.left, lines: 1 });
      } else {
        // Line boxes: tops more than 4 px apart.
        const tops = rects.map((r) => r.top).sort((a, b) => a - b);
        out.push({ text, checkbox, dy: 0, textLeftOfBox: false, lines: tops.filter((t, i) => i === 0 || t - tops[i - 1]! > 4).length });
      }
    }
    return out;
  });
}

for (const dialect of testDialects()) {
  describe(`browser: form and text layout [${dialect}]`, () => {
    let b: Instance;
    let browser: Browser;
    let page: Page;
    before(async () => {
      b = await startInstance(dialect);
      await b.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'lay' } });
      browser = await launchChromium();
      page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      await signIn(page, b.url, 'admin', ADMIN_PASSWORD);
    });
    after(async () => {
      await browser?.close();
      await b?.destroy();
    });

    it('puts every checkbox beside its text and keeps each label text with inline markup on one line', async () => {
      for (const url of FORM_PAGES) {
        await page.goto(b.url + url);
        await page.screenshot({ path: shot(`layout${url.replace(/[/?=]+/g, '-')}-${dialect}`), fullPage: true });
        const labels = await measureLabels(page);
        const boxes = labels.filter((l) => l.checkbox);
        assert.ok(boxes.length > 0, `${url} has checkboxes`);
        for (const l of boxes) {
          assert.ok(l.dy < 6, `${url}: checkbox "${l.text}" sits ${l.dy}px off its text's line`);
          assert.ok(!l.textLeftOfBox, `${url}: checkbox "${l.text}" comes after its text`);
        }
        for (const l of labels.filter((x) => !x.checkbox)) assert.equal(l.lines, 1, `${url}: label "${l.text}" is split over ${l.lines} lines`);
      }
    });

    it('starts every card at its padding, with or without a heading', async () => {
      for (const url of ['/vulndb', '/gc', '/projects/lay', '/settings']) {
        await page.goto(b.url + url);
        const gaps = await page.evaluate(() =>
          [...document.querySelectorAll('main .card')].map((card) => {
            const first = card.firstElementChild!;
            return { what: `${first.tagName} ${(first.textContent ?? '').trim().slice(0, 30)}`, gap: first.getBoundingClientRect().top - card.getBoundingClientRect().top };
          }),
        );
        assert.ok(gaps.length > 0, url);
        for (const g of gaps) assert.ok(g.gap <= 22, `${url}: "${g.what}" starts ${g.gap}px below its card's edge`);
      }
    });

    it("wraps the pull gate's message between words and shows the image's build time like Berth's own times", async () => {
      const put = await b.api('/api/v1/projects/lay', { method: 'PUT', auth: ADMIN, json: { auto_scan: false, prevent_vulnerable: true } });
      assert.equal(put.status, 200);
      const src = await ociImage(path.join(b.config.dataDir, 'img-lay'), [{ 'etc/motd': 'hi' }], '1', { created: '2026-01-02T03:04:05.123456789Z' });
      await push(src, `docker://${b.host}/lay/app:1`, ADMIN);
      const art = await eventually(async () => {
        const res = await b.api('/api/v1/projects/lay/repositories/app/artifacts/1', { auth: ADMIN });
        return res.status === 200 ? res.json() : null;
      });
      // A narrow window, so the long message has to wrap.
      await page.setViewportSize({ width: 700, height: 900 });
      await page.goto(`${b.url}/projects/lay/repositories/app/artifacts/${art.digest}`);
      await page.screenshot({ path: shot(`layout-artifact-blocked-${dialect}`), fullPage: true });
      const split = await page.evaluate(() => {
        const dd = document.querySelector('dd.pull-blocked');
        if (!dd) return ['no dd.pull-blocked'];
        const broken: string[] = [];
        const walker = document.createTreeWalker(dd, NodeFilter.SHOW_TEXT);
        for (let n = walker.nextNode(); n; n = walker.nextNode()) {
          const text = n.textContent ?? '';
          for (const m of text.matchAll(/\S+/g)) {
            if (m[0].length > 30) continue; // only overlong tokens may break
            const r = document.createRange();
            r.setStart(n, m.index!);
            r.setEnd(n, m.index! + m[0].length);
            if (new Set([...r.getClientRects()].map((x) => Math.round(x.top))).size > 1) broken.push(m[0]);
          }
        }
        return broken;
      });
      assert.deepEqual(split, []);
      const lines = await page.evaluate(() => document.querySelector('dd.pull-blocked')!.getClientRects()[0]!.height);
      assert.ok(lines > 30, 'the message does wrap at this width');
      const created = await page.locator('dl.facts dt:text-is("Created") + dd').textContent();
      assert.equal(created, '2026-01-02 03:04');
      await page.setViewportSize({ width: 1280, height: 900 });
    });
  });
}
