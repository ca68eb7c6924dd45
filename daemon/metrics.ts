// Prometheus metrics of the agent's own plumbing (spool, shipper). Collectors register theirs on
// the same registry; drops anywhere go to core/metrics.ts's one counter family.

import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface ShipperMetrics {
  sent: Counter;
  acked: Counter;
  batches: Counter;
  reconnects: Counter;
  connected: Gauge;
  spoolPending: Gauge;
  ackLatency: Histogram;
  refusals: Counter<'code'>;
}

export function shipperMetrics(reg: Registry): ShipperMetrics {
  return {
    sent: new Counter({ name: 'nodewarden_shipper_events_sent_total', help: 'Events sent to central (resends included).', registers: [reg] }),
    acked: new Counter({ name: 'nodewarden_shipper_events_acked_total', help: 'Events central acknowledged as stored (duplicates included).', registers: [reg] }),
    batches: new Counter({ name: 'nodewarden_shipper_batches_sent_total', help: 'Batches sent to central.', registers: [reg] }),
    reconnects: new Counter({ name: 'nodewarden_shipper_reconnects_total', help: 'Reconnection attempts to central.', registers: [reg] }),
    connected: new Gauge({ name: 'nodewarden_shipper_connected', help: '1 while the stream to central is up.', registers: [reg] }),
    spoolPending: new Gauge({ name: 'nodewarden_spool_pending_events', help: 'Events in the spool not yet acknowledged by central.', registers: [reg] }),
    ackLatency: new Histogram({
      name: 'nodewarden_shipper_ack_latency_seconds',
      help: 'From sending a batch to central acknowledging it as stored (flow control included).',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [reg],
    }),
    refusals: new Counter({ name: 'nodewarden_shipper_refusals_total', help: 'Streams central refused, by NW_ERR_* code.', labelNames: ['code'], registers: [reg] }),
  };
}
