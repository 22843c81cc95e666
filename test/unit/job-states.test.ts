import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffMs, canTransition, JOB_STATES, predecessors, type JobStatus } from '../../src/jobs/states.js';

describe('job state machine', () => {
  const allowed: [JobStatus, JobStatus][] = [
    ['pending', 'scheduled'],
    ['pending', 'stopped'],
    ['scheduled', 'running'],
    ['scheduled', 'stopped'],
    ['running', 'success'],
    ['running', 'error'],
    ['running', 'stopped'],
  ];
  for (const from of JOB_STATES) {
    for (const to of JOB_STATES) {
      const want = allowed.some(([f, t]) => f === from && t === to);
      it(`${from} → ${to}: ${want ? 'allowed' : 'refused'}`, () => assert.equal(canTransition(from, to), want));
    }
  }
  it('final states have no way out', () => {
    for (const s of ['success', 'error', 'stopped'] as const) for (const t of JOB_STATES) assert.equal(canTransition(s, t), false);
  });
  it('predecessors are the guard of each write', () => {
    assert.deepEqual(predecessors('running'), ['scheduled']);
    assert.deepEqual(predecessors('stopped'), ['pending', 'scheduled', 'running']);
    assert.deepEqual(predecessors('pending'), []);
  });
});

describe('backoff', () => {
  for (const [failures, ms] of [
    [1, 2000],
    [2, 4000],
    [3, 8000],
    [8, 256000],
    [9, 300000],
    [50, 300000],
  ] as const) {
    it(`after ${failures} failure(s): ${ms} ms`, () => assert.equal(backoffMs(failures), ms));
  }
});
