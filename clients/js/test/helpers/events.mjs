// Records a connection's callbacks, and waits (bounded) for a condition on them.
export const WAIT_MS = 20_000;

export class Recorder {
  constructor() {
    this.results = [];
    this.errors = [];
    this.opens = [];
    this.closes = [];
    this.reconnects = [];
    this.coldStarts = [];
    this.timings = [];
    this.log = [];
    this.waiters = new Set();
  }

  /** The callbacks to spread into connect()'s options. */
  callbacks() {
    const record = (list, kind) => (value) => {
      list.push(value);
      this.log.push({ kind, value });
      for (const waiter of [...this.waiters]) waiter();
    };
    return {
      onResult: record(this.results, "result"),
      onError: record(this.errors, "error"),
      onOpen: record(this.opens, "open"),
      onClose: record(this.closes, "close"),
      onReconnect: record(this.reconnects, "reconnect"),
      onColdStart: record(this.coldStarts, "coldStart"),
      onTimings: record(this.timings, "timings"),
    };
  }

  /** Resolves when `condition()` holds; fails after `timeoutMs` saying what was seen. */
  until(condition, what, timeoutMs = WAIT_MS) {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = () => {
        if (condition()) {
          this.waiters.delete(waiter);
          clearTimeout(timer);
          resolve();
        }
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; seen: ${this.describe()}`));
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  describe() {
    return JSON.stringify(
      this.log.map(({ kind, value }) => ({
        kind,
        value: value instanceof Error ? { code: value.code, reason: value.reason } : value,
      })),
    ).slice(-4000);
  }
}

/** Polls an async `probe` until `accept(value)`, bounded; resolves with that value. */
export async function poll(probe, accept, what, timeoutMs = WAIT_MS) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await probe();
    if (accept(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(last)}`);
}
