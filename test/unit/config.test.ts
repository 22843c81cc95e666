import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('loadConfig', () => {
  it('has working defaults', () => {
    const c = loadConfig({});
    assert.equal(c.port, 8080);
    assert.equal(c.dataDir, path.resolve('./data'));
    assert.deepEqual(c.database, { dialect: 'sqlite', url: path.resolve('./data/berth.db') });
    assert.equal(c.externalUrl, 'http://127.0.0.1:8080');
    assert.equal(c.secureCookies, false);
    assert.equal(c.host, '127.0.0.1', 'loopback only unless BERTH_LISTEN says otherwise');
    assert.ok(Object.isFrozen(c));
  });

  it('reads MySQL URLs and https external URLs', () => {
    const c = loadConfig({ DATABASE_URL: 'mysql://root@127.0.0.1:3306/berth', BERTH_EXTERNAL_URL: 'https://reg.example.org/', PORT: '9000' });
    assert.equal(c.database.dialect, 'mysql');
    assert.equal(c.externalUrl, 'https://reg.example.org');
    assert.equal(c.secureCookies, true);
    assert.equal(c.port, 9000);
  });

  it('takes the listen address from BERTH_LISTEN (IPv4, IPv6 with or without brackets)', () => {
    assert.equal(loadConfig({ BERTH_LISTEN: '0.0.0.0' }).host, '0.0.0.0');
    assert.equal(loadConfig({ BERTH_LISTEN: '[::1]' }).host, '::1');
    assert.equal(loadConfig({ BERTH_LISTEN: '::' }).host, '::');
    for (const bad of ['example.org', '0.0.0.0:8080', '1.2.3', 'http://0.0.0.0']) {
      assert.throws(() => loadConfig({ BERTH_LISTEN: bad }), (e: unknown) => e instanceof ConfigError && e.problems[0]!.startsWith('BERTH_LISTEN'), bad);
    }
  });

  it('reports every problem at once', () => {
    try {
      loadConfig({ PORT: 'eighty', DATABASE_URL: 'postgres://x/y', BERTH_EXTERNAL_URL: 'ftp://x', BERTH_ADMIN_PASSWORD: 'short', BERTH_TOKEN_TTL: '5' });
      assert.fail('expected ConfigError');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      const names = err.problems.map((p) => p.split(':')[0]);
      assert.deepEqual(names.sort(), ['BERTH_ADMIN_PASSWORD', 'BERTH_EXTERNAL_URL', 'BERTH_TOKEN_TTL', 'DATABASE_URL', 'PORT']);
    }
  });
});
