// RFC 5424 messages and RFC 6587 octet-counted frames.
import t from 'tap';
import { nodewarden } from '../../../gen/nodewarden.js';
import { octetCounted, rfc5424, syslogSeverity } from '../../../central/formats/syslog.js';

const pb = nodewarden.v1;
const base = { facility: 10, severity: 3, time: new Date(Date.UTC(2024, 4, 6, 7, 8, 9, 12)), hostname: 'worker-1', appName: 'nodewarden', msgId: 'process', message: 'CEF:0|x' };

t.test('a message has PRI, version 1, an RFC 3339 UTC time, NILVALUEs for what is absent, then the message', async (t) => {
  t.equal(rfc5424(base), '<83>1 2024-05-06T07:08:09.012Z worker-1 nodewarden - process - CEF:0|x');
  t.equal(rfc5424({ ...base, procId: '42', structuredData: '[x@32473 a="b"]' }), '<83>1 2024-05-06T07:08:09.012Z worker-1 nodewarden 42 process [x@32473 a="b"] CEF:0|x');
});

t.test('PRI is facility times 8 plus severity', async (t) => {
  t.match(rfc5424({ ...base, facility: 0, severity: 0 }), /^<0>1 /);
  t.match(rfc5424({ ...base, facility: 23, severity: 7 }), /^<191>1 /);
  t.throws(() => rfc5424({ ...base, facility: 24 }), RangeError);
  t.throws(() => rfc5424({ ...base, severity: 8 }), RangeError);
});

t.test('empty header fields and an invalid time are the NILVALUE; an empty message is left out', async (t) => {
  t.equal(rfc5424({ ...base, time: new Date(Number.NaN), hostname: '', msgId: '', message: '' }), '<83>1 - - nodewarden - - -');
});

t.test('header fields are printable US-ASCII within the RFC lengths', async (t) => {
  const m = rfc5424({ ...base, hostname: `nöde 1${'h'.repeat(300)}`, appName: 'a'.repeat(60), procId: 'p'.repeat(200), msgId: 'm'.repeat(40) });
  const [, , host, app, proc, msgId] = m.split(' ');
  t.equal(host, `n_de_1${'h'.repeat(249)}`);
  t.equal(app!.length, 48);
  t.equal(proc!.length, 128);
  t.equal(msgId!.length, 32);
});

t.test('an octet-counted frame gives the UTF-8 byte length, a space, the message', async (t) => {
  t.same(octetCounted('abc'), Buffer.from('3 abc'));
  t.same(octetCounted('ü😀'), Buffer.concat([Buffer.from('6 '), Buffer.from('ü😀')]), '2 + 4 bytes, 3 UTF-16 units');
});

t.test('event severities map to syslog severities: critical 2, high 3, medium 4, low 5, info 6', async (t) => {
  t.same(
    [pb.Severity.SEVERITY_CRITICAL, pb.Severity.SEVERITY_HIGH, pb.Severity.SEVERITY_MEDIUM, pb.Severity.SEVERITY_LOW, pb.Severity.SEVERITY_INFO, pb.Severity.SEVERITY_UNSPECIFIED].map(syslogSeverity),
    [2, 3, 4, 5, 6, 6],
  );
});
