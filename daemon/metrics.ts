// Prometheus metrics of the agent's own plumbing (spool, shipper, drops). Collectors register
// theirs on the same registry. One counter family counts every drop anywhere:
// nodewarden_events_dropped_total{component,reason}.

import { Counter, Gauge, Registry } from 'prom-client';

export interface ShipperMetrics {
  sent: Counter;
  acked: Counter;
  batches: Counter;
  reconnects: Counter;
  connected: Gauge;
  spoolPending: Gauge;
}

export function shipperMetrics(reg: Registry): ShipperMetrics {
  return {
    sent: new Counter({ name: 'nodewarden_shipper_events_sent_total', help: 'Events sent to central (resends included).', registers: [reg] }),
    acked: new Counter({ name: 'nodewarden_shipper_events_acked_total', help: 'Events central acknowledged as stored (duplicates included).', registers: [reg] }),
    batches: new Counter({ name: 'nodewarden_shipper_batches_sent_total', help: 'Batches sent to central.', registers: [reg] }),
    reconnects: new Counter({ name: 'nodewarden_shipper_reconnects_total', help: 'Reconnection attempts to central.', registers: [reg] }),
    connected: new Gauge({ name: 'nodewarden_shipper_connected', help: '1 while the stream to central is up.', registers: [reg] }),
    spoolPending: new Gauge({ name: 'nodewarden_spool_pending_events', help: 'Events in the spool not yet acknowledged by central.', registers: [reg] }),
  };
}

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
