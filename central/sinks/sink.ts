// A sink delivers stored events somewhere (a file, a SIEM, Alertmanager). Each sink reads the
// event log from its own durable cursor, so a sink that is down or slow never holds up ingest
// or another sink, and resumes where it stopped.

export interface Sink {
  readonly name: string;
  start(): Promise<void>;
  /** New events were stored: deliver them when ready. */
  notify(): void;
  stop(deadlineMs?: number): Promise<void>;
}
