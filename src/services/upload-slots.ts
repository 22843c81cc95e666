import { AppError } from '../errors.js';

/** Large uploads received at once per process (each may hold up to its limit on disk, and CPU to import). */
export const MAX_CONCURRENT_UPLOADS = 2;
/** Advisory imports: OSV zips as osv.dev publishes them reach tens of MiB per ecosystem. */
export const VULNDB_IMPORT_LIMIT = 512 * 1024 * 1024;

/** A bounded number of large uploads at once per process; the rest get a retryable 503. */
export class UploadSlots {
  private busy = 0;
  constructor(readonly max: number) {}

  /** Takes a slot or throws UNAVAILABLE; call the returned function to give it back. */
  acquire(): () => void {
    if (this.busy >= this.max) throw new AppError('UNAVAILABLE', `${this.max} large uploads are in progress: retry in a minute`);
    this.busy++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.busy--;
    };
  }

  get inUse(): number {
    return this.busy;
  }
}
