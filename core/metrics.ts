// Metric helpers both processes share. One counter family counts every drop anywhere, on the
// agent and on central: nodewarden_events_dropped_total{component,reason}.

import { Counter, type Registry } from 'prom-client';

export function droppedCounter(reg: Registry): Counter<'component' | 'reason'> {
  const existing = reg.getSingleMetric('nodewarden_events_dropped_total');
  if (existing) return existing as Counter<'component' | 'reason'>;
  return new Counter({
    name: 'nodewarden_events_dropped_total',
    help: 'Events dropped anywhere in nodewarden, by component and reason. Every drop is also reported as an event.',
    labelNames: ['component', 'reason'],
    registers: [reg],
  });
}
