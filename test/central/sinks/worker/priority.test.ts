// The sink thread's priority: lowered to idle by the thread itself, and given back by central
// before a stop, so a busy machine cannot starve the drain past its deadline.
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import t from 'tap';
import { restoreThreadPriority, schedAddonPath } from '../../../../central/sinks/worker/priority.js';

const policy = (tid: number): number => {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'latin1');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[38]);
};

t.test('a thread at SCHED_IDLE is given SCHED_OTHER back by its id', async (t) => {
  // A thread that makes itself idle, says its id, and waits to be told to end.
  const w = new Worker(`
    const { parentPort } = require('node:worker_threads');
    const { readlinkSync } = require('node:fs');
    require(${JSON.stringify(schedAddonPath)}).setThreadIdle();
    parentPort.postMessage(Number(readlinkSync('/proc/thread-self').split('/').pop()));
    parentPort.on('message', () => process.exit(0));
  `, { eval: true });
  t.teardown(() => w.terminate());
  const tid = await new Promise<number>((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
  t.equal(policy(tid), 5, 'idle (SCHED_IDLE = 5)');
  t.equal(restoreThreadPriority(tid), true);
  t.equal(policy(tid), 0, 'normal (SCHED_OTHER = 0)');
  t.equal(restoreThreadPriority(0), false, 'no thread id: nothing done');
});
