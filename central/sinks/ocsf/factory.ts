// The `ocsf` sink type: every event it takes appended to a file (or stdout, '-') as one OCSF 1.8.0
// document per line (central/formats/ocsf.ts), exactly once into the file (see FileSink), with the
// node's host facts in `device`.
//
//   - name: ocsf
//     type: ocsf
//     path: /var/log/nodewarden/ocsf.jsonl

import { z } from 'zod';
import { toOcsf } from '../../formats/ocsf.js';
import { FileSink, fileCursor } from '../file/file-sink.js';
import { filterFor } from '../filter.js';
import type { SinkFactory } from '../sink.js';

export const ocsfSinkFactory: SinkFactory<{ path: string }> = {
  type: 'ocsf',
  schema: z.strictObject({ path: z.string().min(1) }),
  create: (config, ctx) => new FileSink({
    name: config.name, cursor: fileCursor('ocsf', config.path), target: config.path, log: ctx.log, logger: ctx.logger, delivered: ctx.delivered,
    encode: (e) => JSON.stringify(toOcsf(e, { version: ctx.version })), accept: filterFor(config.filter),
    host: (node) => ctx.host(node),
  }),
};
