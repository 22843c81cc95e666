/** Job states, exactly as the original design names them. */
export const JOB_STATES = ['pending', 'scheduled', 'running', 'success', 'error', 'stopped'] as const;
export type JobStatus = (typeof JOB_STATES)[number];

export const FINAL_STATES: ReadonlySet<JobStatus> = new Set(['success', 'error', 'stopped']);
/** The states of a job not finished yet: waiting, claimed or running. */
export const OPEN_STATES: readonly JobStatus[] = JOB_STATES.filter((s) => !FINAL_STATES.has(s));

/**
 * Forward moves within one attempt. A retry, a released claim or a recovered lease is not a move back: it starts a
 * new attempt (attempt + 1, pending), and every write is guarded by the attempt it was made for.
 */
const FORWARD: Record<JobStatus, readonly JobStatus[]> = {
  pending: ['scheduled', 'stopped'],
  scheduled: ['running', 'stopped'],
  running: ['success', 'error', 'stopped'],
  success: [],
  error: [],
  stopped: [],
};

export function canTransition(from: JobStatus, to: JobStatus): boolean {
  return FORWARD[from].includes(to);
}

/** The states a job may be in for a write that moves it to `to` (the guard of the conditional UPDATE). */
export function predecessors(to: JobStatus): JobStatus[] {
  return JOB_STATES.filter((s) => canTransition(s, to));
}

/** States from which a new attempt may start: a failed run, a released claim, a lost lease. */
export const NEW_ATTEMPT_FROM: readonly JobStatus[] = ['scheduled', 'running'];

export const isJobStatus = (s: unknown): s is JobStatus => typeof s === 'string' && (JOB_STATES as readonly string[]).includes(s);

/** Exponential backoff with a cap: 2 s, 4 s, 8 s … at most 5 minutes. */
export function backoffMs(failures: number, baseMs = 2000, capMs = 300_000): number {
  return Math.min(capMs, baseMs * 2 ** Math.max(0, failures - 1));
}
