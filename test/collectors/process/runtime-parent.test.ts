import t from 'tap';
import { containerFromRuntimeParent } from '../../../collectors/process/runtime-parent.js';

const ID = 'f'.repeat(64);

t.test('runc exec names the container a short-lived exec entered', async (t) => {
  const argv = ['runc', '--root', '/run/containerd/runc/k8s.io', '--log', '/run/x/log.json', '--log-format', 'json', 'exec', '--process', '/tmp/runc-process1', '--detach', '--pid-file', '/run/x/pid', ID];
  t.equal(containerFromRuntimeParent({ exe: '/usr/sbin/runc', argv }), ID);
  t.equal(containerFromRuntimeParent({ exe: '/usr/bin/crun', argv: ['crun', 'exec', '--detach', 'abc-1'] }), 'abc-1');
});

t.test('anything else names nothing', async (t) => {
  t.equal(containerFromRuntimeParent({ exe: '/usr/sbin/runc', argv: ['runc', 'create', '--bundle', '/b', ID] }), null, 'runc create is not an exec');
  t.equal(containerFromRuntimeParent({ exe: '/bin/bash', argv: ['bash', '-c', `exec ${ID}`] }), null);
  t.equal(containerFromRuntimeParent({ exe: '/usr/sbin/runc', argv: ['runc', 'exec'] }), null, 'no id');
  t.equal(containerFromRuntimeParent({ exe: '/usr/sbin/runc', argv: ['runc', 'exec', 'x', '../../etc'] }), null, 'not an id');
});
