// The `alertmanager` sink type: findings and detections as Prometheus Alertmanager alerts, for
// on-call. Events from the cursor are sent as they come (open, resolved, one-shot); on a timer,
// every finding open right now is sent again, so Alertmanager keeps it firing for exactly as
// long as it stays open, and resolves it on its own within four intervals if central goes away.
// Routing (PagerDuty, Opsgenie, Slack) stays Alertmanager's job.

import { readFileSync } from 'node:fs';
import { Counter } from 'prom-client';
import { z } from 'zod';
import { NwError, describeError } from '../../../core/errors.js';
import { severityByName } from '../../../core/event.js';
import { toAlert } from '../../formats/alert.js';
import { filterFor } from '../filter.js';
import { secretRef } from '../secret.js';
import type { SinkDriver, SinkFactory } from '../sink.js';
import { AlertmanagerTransport } from './transport.js';
import { httpUrl } from '../http/config.js';


export const alertmanagerConfigSchema = z.strictObject({
  /** Every instance of the Alertmanager cluster (HA instances do not share alerts: each gets all). */
  urls: z.array(httpUrl).min(1).refine((u) => new Set(u).size === u.length, 'an Alertmanager is listed twice'),
  /** How often every open finding is sent again; its alert ends four intervals after each send. */
  resendIntervalMs: z.number().int().min(1000).default(60_000),
  /** How long a one-shot detection (an exec) fires after it happened. */
  detectionTtlMs: z.number().int().min(1000).default(900_000),
  /** The `cluster` label of alerts whose event names no cluster. */
  cluster: z.string().min(1).optional(),
  /** A PEM file of the CA(s) of the instances' certificates (default: the system's roots). */
  tls: z.strictObject({ ca: z.string().min(1).optional() }).optional(),
  /** A bearer token (e.g. for an oauth2-proxy in front of Alertmanager). */
  auth: z.strictObject({ bearer: secretRef }).optional(),
});

export type AlertmanagerSinkConfig = z.infer<typeof alertmanagerConfigSchema>;

/** Below the chain's timeout, so that an instance that hangs times out before the batch does. */
const INSTANCE_TIMEOUT_SHARE = 0.8;

export const alertmanagerSinkFactory: SinkFactory<AlertmanagerSinkConfig> = {
  type: 'alertmanager',
  schema: alertmanagerConfigSchema,
  create(config, ctx): SinkDriver {
    const caFile = config.tls?.ca;
    if (caFile) {
      try {
        readFileSync(caFile);
      } catch (err) {
        throw new NwError('NW_ERR_CONFIG', `sink ${ctx.name}: tls.ca ${caFile} cannot be read: ${describeError(err)}`, { cause: err });
      }
    }
    const bearerRef = config.auth?.bearer;
    // Read once now so that a missing secret stops central at start rather than at the first alert.
    if (bearerRef) ctx.secret(bearerRef);

    const name = 'nodewarden_sink_alertmanager_instance_failures_total';
    const instanceFailures = (ctx.registry.getSingleMetric(name) as Counter<'sink' | 'instance'> | undefined) ?? new Counter({
      name,
      help: 'Sends one Alertmanager instance did not take (the sink delivers while another instance does).',
      labelNames: ['sink', 'instance'],
      registers: [ctx.registry],
    });

    const transport = new AlertmanagerTransport({
      urls: config.urls,
      toAlert: (e, now) => toAlert(e, {
        now,
        resendIntervalMs: config.resendIntervalMs,
        detectionTtlMs: config.detectionTtlMs,
        ...(config.cluster ? { cluster: config.cluster } : {}),
      }),
      instanceTimeoutMs: Math.max(1, Math.floor(config.timeoutMs * INSTANCE_TIMEOUT_SHARE)),
      ...(caFile ? { caFile } : {}),
      ...(bearerRef ? { bearer: () => ctx.secret(bearerRef) } : {}),
      userAgent: `nodewarden/${ctx.version}`,
      sink: ctx.name,
      logger: ctx.logger,
      instanceFailures,
    });

    // The chain filters the cursor's events; the re-sends pass the same filter here.
    const accept = filterFor(config.filter);
    const minSeverity = config.filter.minSeverity ? severityByName(config.filter.minSeverity) ?? 0 : 0;
    return {
      // A new sink pages for what happens from now on; what is open reaches it through periodic.
      startAt: 'newest',
      transport,
      periodic: {
        everyMs: config.resendIntervalMs,
        events: () => ctx.openFindings(minSeverity).filter((e) => accept(e.event)),
      },
    };
  },
};
