import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CredentialCache } from '../../src/auth/credential-cache.js';

describe('CredentialCache', () => {
  it('answers only for the exact name and secret', () => {
    const c = new CredentialCache<number>(60_000);
    c.set('robot$ci', 's3cret', 7);
    assert.equal(c.get('robot$ci', 's3cret'), 7);
    assert.equal(c.get('robot$ci', 's3cre'), undefined);
    assert.equal(c.get('robot$c', 'is3cret'), undefined, 'the separator keeps name and secret apart');
    c.set('a\0b', 'c', 1);
    assert.equal(c.get('a', 'b\0c'), undefined, 'a separator inside a name or secret does not move the boundary');
  });
  it('forgets after its lifetime, when cleared, and when full', async () => {
    const c = new CredentialCache<number>(20, 2);
    c.set('a', '1', 1);
    await new Promise((r) => setTimeout(r, 40));
    assert.equal(c.get('a', '1'), undefined);
    c.set('a', '1', 1);
    c.clear();
    assert.equal(c.get('a', '1'), undefined);
    c.set('a', '1', 1);
    c.set('b', '2', 2);
    c.set('c', '3', 3);
    assert.equal(c.get('a', '1'), undefined);
    assert.equal(c.get('c', '3'), 3);
  });
  it('does not remember a verification that began before a clear', () => {
    const c = new CredentialCache<number>(10_000);
    const epoch = c.epoch;
    c.clear(); // a change seen while the (slow) verification ran
    c.set('robot$ci', 's3cret', 1, epoch);
    assert.equal(c.get('robot$ci', 's3cret'), undefined);
    c.set('robot$ci', 's3cret', 2, c.epoch);
    assert.equal(c.get('robot$ci', 's3cret'), 2);
  });
});
