import type { JobTypeName, PayloadOf } from './payloads.js';

/** What services see of the job service: enqueueing only (a type import, so no arrow runs back up). */
export interface EnqueueOptions {
  /** de-duplication: a second enqueue with the same key returns the first job */
  uniqueKey?: string;
  /** free the key once the job ends (e.g. "one scan per artifact at a time"), instead of keeping it forever */
  releaseKeyOnFinish?: boolean;
  runAt?: number;
  priority?: number;
  /** an outbound webhook for this job's status changes */
  hookUrl?: string;
}

export interface JobQueue {
  /** Enqueues a job of a known type, its payload typed (and validated at run time) by the type's schema. */
  enqueue<T extends JobTypeName>(type: T, payload: PayloadOf<T>, opts?: EnqueueOptions): Promise<{ id: number; created: boolean }>;
  /**
   * Enqueues a job whose type comes from data (a stored schedule, a form's choice among job types): the payload is
   * only validated at run time.
   */
  enqueueStored(type: string, payload: unknown, opts?: EnqueueOptions): Promise<{ id: number; created: boolean }>;
}
