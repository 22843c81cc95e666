import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LOCALES } from '../../src/i18n/index.js';
import { EVENT_TYPES, renderDelivery, type WebhookEvent } from '../../src/services/webhook-payloads.js';

const policy = { id: 7, format: 'slack' as const, authHeader: null, secret: null };

const event = (type: WebhookEvent['type'], extra: Partial<WebhookEvent> = {}): WebhookEvent => ({
  id: 'e1',
  type,
  occurAt: Date.UTC(2026, 10, 30),
  operator: 'alice',
  project: { id: 1, name: 'lib', public: false },
  repository: 'lib/app',
  resources: [{ digest: `sha256:${'a'.repeat(64)}`, tag: 'v1' }],
  ...extra,
});

const slackText = (e: WebhookEvent, locale?: (typeof LOCALES)[number]) => {
  const body = JSON.parse(renderDelivery(e, policy, 'registry.test', locale).body);
  assert.equal(body.blocks[0].text.text, body.text);
  return body.text as string;
};

describe('Slack webhook messages', () => {
  const cases: [string, WebhookEvent, string, string][] = [
    ['a push', event('PUSH_ARTIFACT'), '[PUSH_ARTIFACT] lib/app:v1 pushed by alice', '[PUSH_ARTIFACT] alice 推送了 lib/app:v1'],
    [
      'a delete by digest',
      event('DELETE_ARTIFACT', { resources: [{ digest: `sha256:${'b'.repeat(64)}` }] }),
      `[DELETE_ARTIFACT] lib/app@sha256:${'b'.repeat(12)} deleted by alice`,
      `[DELETE_ARTIFACT] alice 删除了 lib/app@sha256:${'b'.repeat(12)}`,
    ],
    [
      'a scan with its overview',
      event('SCANNING_COMPLETED', {
        resources: [
          {
            digest: `sha256:${'a'.repeat(64)}`,
            tag: 'v1',
            scanOverview: { reportId: 'r', status: 'Success', severity: 'High', durationSeconds: 3, total: 4, fixable: 1, summary: { High: 4 }, startTime: null, endTime: null, scanner: 'berth' },
          },
        ],
      }),
      '[SCANNING_COMPLETED] lib/app:v1 scanned by alice (4 vulnerabilities, highest High)',
      '[SCANNING_COMPLETED] lib/app:v1 已完成扫描（alice）：4 个漏洞，最高 High',
    ],
    [
      'a retention run',
      event('TAG_RETENTION', { repository: null, resources: [], details: { deleted: 2, total: 9 } }),
      '[TAG_RETENTION] lib tag retention finished by alice (2 deleted of 9)',
      '[TAG_RETENTION] lib 标签保留已完成（alice）：共 9 个，删除 2 个',
    ],
  ];
  for (const [name, e, en, zh] of cases) {
    it(`${name}: English by default and for en, Chinese for zh-CN`, () => {
      assert.equal(slackText(e), en);
      assert.equal(slackText(e, 'en'), en);
      assert.equal(slackText(e, 'zh-CN'), zh);
    });
  }

  it('every event type has a sentence in every language, with its facts filled in', () => {
    for (const type of EVENT_TYPES) {
      for (const l of LOCALES) {
        const text = slackText(event(type), l);
        assert.ok(text.startsWith(`[${type}] `), text);
        assert.ok(text.includes('lib/app:v1') && text.includes('alice'), text);
        assert.ok(!/\{\{|slack\./.test(text), text);
      }
      assert.notEqual(slackText(event(type), 'zh-CN'), slackText(event(type), 'en'), type);
    }
  });

  it('other formats do not change with the language', () => {
    for (const format of ['default', 'cloudevents'] as const) {
      const p = { ...policy, format };
      const strip = (s: string) => s.replace(/"id":"[^"]*"/g, '');
      assert.equal(strip(renderDelivery(event('PUSH_ARTIFACT'), p, 'r', 'zh-CN').body), strip(renderDelivery(event('PUSH_ARTIFACT'), p, 'r', 'en').body));
    }
  });
});
