import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hashPassword, verifyPassword } from '../../src/auth/passwords.js';
import { likePattern } from '../../src/db/repos/sql.js';
import { originAllowed, parseBasic } from '../../src/routes/middleware.js';
import { safeNext } from '../../src/routes/ui/render.js';

describe('parseBasic', () => {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  it('parses user and password with colons', () => assert.deepEqual(parseBasic(`Basic ${b64('u:p:q')}`), { username: 'u', password: 'p:q' }));
  it('rejects other schemes', () => assert.equal(parseBasic('Bearer abc'), undefined));
  it('rejects an empty username', () => assert.equal(parseBasic(`Basic ${b64(':p')}`), undefined));
  it('rejects garbage', () => assert.equal(parseBasic('Basic !!!'), undefined));
  it('rejects huge headers', () => assert.equal(parseBasic(`Basic ${'A'.repeat(5000)}`), undefined));
});

describe('originAllowed', () => {
  it('accepts our origin', () => assert.ok(originAllowed('https://reg.example', 'https://reg.example', 'x')));
  it('accepts the request host', () => assert.ok(originAllowed('http://127.0.0.1:8080', 'https://reg.example', '127.0.0.1:8080')));
  it('accepts no Origin', () => assert.ok(originAllowed(undefined, 'https://reg.example', 'x')));
  it('refuses another site', () => assert.ok(!originAllowed('https://evil.example', 'https://reg.example', 'reg.example')));
  it('refuses null', () => assert.ok(!originAllowed('null', 'https://reg.example', 'reg.example')));
});

describe('safeNext', () => {
  for (const [input, want] of [
    ['/projects', '/projects'],
    ['//evil.example', '/'],
    ['/\\evil.example', '/'],
    ['https://evil.example', '/'],
    [undefined, '/'],
  ] as const) {
    it(`${String(input)} → ${want}`, () => assert.equal(safeNext(input), want));
  }
});

describe('likePattern', () => {
  it('escapes wildcards and the escape char', () => assert.equal(likePattern("a%b_c!d'"), "%a!%b!_c!!d'%"));
});

describe('passwords', () => {
  it('verifies the right password only', async () => {
    const h = await hashPassword('correct horse');
    assert.match(h, /^scrypt\$32768\$8\$1\$/);
    assert.equal(await verifyPassword('correct horse', h), true);
    assert.equal(await verifyPassword('correct hors', h), false);
  });
  it('rejects malformed or absurd hashes without throwing', async () => {
    assert.equal(await verifyPassword('x', 'plain'), false);
    assert.equal(await verifyPassword('x', 'scrypt$99999999$8$1$AAAA$AAAAAAAAAAAAAAAAAAAAAA'), false);
  });
});
