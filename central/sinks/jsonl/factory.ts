// The JSON-lines sink: every event it takes appended to a file (or stdout, '-') as one JSON
// object per line in the protobuf JSON mapping, exactly once into the file (see FileSink).
// `--jsonl FILE` is a shorthand for one of these.

import { z } from 'zod';
import { eventJsonText } from '../event-json.js';
import { FileSink, fileCursor } from '../file/file-sink.js';
import { filterFor } from '../filter.js';
import type { SinkFactory } from '../sink.js';

export const jsonlSinkFactory: SinkFactory<{ path: string }> = {
  type: 'jsonl',
  schema: z.strictObject({ path: z.string().min(1) }),
  create: (config, ctx) => new FileSink({
    name: config.name, cursor: fileCursor('jsonl', config.path), target: config.path, log: ctx.log, logger: ctx.logger, delivered: ctx.delivered,
    encode: (e) => eventJsonText(e.event), accept: filterFor(config.filter),
  }),
};
