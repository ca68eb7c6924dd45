// Ingest before sinks. Every sink shares central's one event loop with ingest; a sink that is
// behind always has more to read, decode and encode, and seven of them back to back held
// acknowledgements for a second. So sinks work in slices handed out one per turn of the event
// loop: between two slices the loop polls its sockets, and the agents' batches (stored and
// acknowledged from there) never queue behind more than one slice. Sinks that fall behind
// catch up from their durable cursors; ingest never waits for them.
//
//   sink A ─┐   next()              one waiter released per loop turn
//   sink B ─┼──▶ waiters ─(setImmediate)─▶ A's slice │ poll (ingest) │ B's slice │ poll …
//   sink C ─┘

export class Slices {
  private readonly waiters: (() => void)[] = [];
  private scheduled = false;

  /** Resolves when it is this caller's turn; its work until its next await is its slice. */
  next(): Promise<void> {
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.waiters.length === 0) return;
    this.scheduled = true;
    // An immediate queued from an immediate runs on the next loop turn, after the poll phase.
    setImmediate(() => {
      this.scheduled = false;
      this.waiters.shift()?.();
      this.schedule();
    });
  }
}
