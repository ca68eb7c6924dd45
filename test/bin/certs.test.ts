// `nodewarden certs` as a user runs it: the files it writes, their modes, and its refusals.
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cliPath } from '../helpers/paths.js';

const run = (args: string[]) => spawnSync(process.execPath, [cliPath, 'certs', ...args], { encoding: 'utf8' });

/** A fresh directory holding the CA directory `pki` (not yet created), removed after the test. */
function workDir(t: Test): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'nodewarden-certs-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  return path.join(root, 'pki');
}

function init(t: Test): string {
  const dir = workDir(t);
  const r = run(['init', '--dir', dir]);
  t.equal(r.status, 0, r.stderr);
  return dir;
}

const mode = (file: string) => statSync(file).mode & 0o777;

t.test('init creates the directory 0700 with ca.crt and a 0600 ca.key, one line per file', async (t) => {
  const dir = workDir(t);
  const r = run(['init', '--dir', dir]);
  t.equal(r.status, 0, r.stderr);
  t.equal(mode(dir), 0o700);
  t.equal(mode(path.join(dir, 'ca.key')), 0o600);
  t.ok(new X509Certificate(readFileSync(path.join(dir, 'ca.crt'))).ca);
  const lines = r.stdout.trim().split('\n');
  t.equal(lines.length, 2);
  t.match(lines[0], `wrote ${path.join(dir, 'ca.key')}`);
  t.match(lines[1], `wrote ${path.join(dir, 'ca.crt')}`);
});

t.test('node writes NODE.crt and a 0600 NODE.key issued by the CA', async (t) => {
  const dir = init(t);
  const r = run(['node', 'worker-1', '--dir', dir]);
  t.equal(r.status, 0, r.stderr);
  t.equal(mode(path.join(dir, 'worker-1.key')), 0o600);
  const cert = new X509Certificate(readFileSync(path.join(dir, 'worker-1.crt')));
  t.equal(cert.subject, 'CN=worker-1\nO=nodewarden:nodes');
  t.ok(cert.verify(new X509Certificate(readFileSync(path.join(dir, 'ca.crt'))).publicKey));
});

t.test('server takes every --san, IPs as IP SANs, with --days', async (t) => {
  const dir = init(t);
  const r = run(['server', '--dir', dir, '--san', 'central.nodewarden.svc', '--san', '10.0.0.5', '--days', '30']);
  t.equal(r.status, 0, r.stderr);
  t.equal(mode(path.join(dir, 'server.key')), 0o600);
  const cert = new X509Certificate(readFileSync(path.join(dir, 'server.crt')));
  t.equal(cert.subject, 'CN=central.nodewarden.svc');
  t.equal(cert.subjectAltName, 'DNS:central.nodewarden.svc, IP Address:10.0.0.5');
  const days = (Date.parse(cert.validTo) - Date.now()) / 86_400_000;
  t.ok(days > 29.9 && days < 30.1, `30 days (${days.toFixed(2)})`);
});

t.test('server without --san is refused', async (t) => {
  const dir = init(t);
  const r = run(['server', '--dir', dir]);
  t.not(r.status, 0);
  t.match(r.stderr, /--san/);
  t.notOk(existsSync(path.join(dir, 'server.key')));
});

t.test('client writes an operator certificate NAME.crt and a 0600 NAME.key', async (t) => {
  const dir = init(t);
  const r = run(['client', 'alice', '--dir', dir]);
  t.equal(r.status, 0, r.stderr);
  t.equal(mode(path.join(dir, 'alice.key')), 0o600);
  t.equal(new X509Certificate(readFileSync(path.join(dir, 'alice.crt'))).subject, 'CN=alice\nO=nodewarden:operators');
});

t.test('a second node certificate for the same node is refused and changes nothing', async (t) => {
  const dir = init(t);
  t.equal(run(['node', 'worker-1', '--dir', dir]).status, 0);
  const key = readFileSync(path.join(dir, 'worker-1.key'));
  const crt = readFileSync(path.join(dir, 'worker-1.crt'));
  const again = run(['node', 'worker-1', '--dir', dir]);
  t.equal(again.status, 2);
  t.match(again.stderr, `nodewarden: ${path.join(dir, 'worker-1.key')} already exists`);
  t.ok(readFileSync(path.join(dir, 'worker-1.key')).equals(key), 'key unchanged');
  t.ok(readFileSync(path.join(dir, 'worker-1.crt')).equals(crt), 'certificate unchanged');
});

t.test('a second init is refused and keeps the CA', async (t) => {
  const dir = init(t);
  const key = readFileSync(path.join(dir, 'ca.key'));
  const again = run(['init', '--dir', dir]);
  t.equal(again.status, 2);
  t.match(again.stderr, /ca\.key already exists/);
  t.ok(readFileSync(path.join(dir, 'ca.key')).equals(key));
});

t.test('issuing without a CA says to run init first, exit 2', async (t) => {
  const dir = workDir(t);
  const r = run(['node', 'worker-1', '--dir', dir]);
  t.equal(r.status, 2);
  t.equal(r.stderr, `nodewarden: ${path.join(dir, 'ca.crt')} does not exist: run nodewarden certs init --dir ${dir} first\n`);
});

t.test('a name that would leave the directory is refused', async (t) => {
  const dir = init(t);
  for (const name of ['../evil', '.hidden']) {
    const r = run(['client', name, '--dir', dir]);
    t.equal(r.status, 2, name);
    t.match(r.stderr, /cannot be used as a file name/);
  }
});

t.test('an invalid node name is refused with the rule it breaks', async (t) => {
  const dir = init(t);
  const r = run(['node', 'Worker_1', '--dir', dir]);
  t.equal(r.status, 2);
  t.match(r.stderr, /not a valid Kubernetes node name/);
  t.notOk(existsSync(path.join(dir, 'Worker_1.key')));
});

t.test('--days must be a whole number', async (t) => {
  const r = run(['init', '--dir', workDir(t), '--days', 'ten']);
  t.equal(r.status, 2);
  t.match(r.stderr, /--days: expected a whole number of days/);
});

t.test('--help describes every subcommand', async (t) => {
  const top = run(['--help']);
  t.equal(top.status, 0);
  for (const sub of ['init', 'server', 'node', 'client']) t.match(top.stdout, new RegExp(`\\n  ${sub}\\b`));
  const server = run(['server', '--help']);
  t.equal(server.status, 0);
  t.match(server.stdout, /--san <name\.\.\.>/);
});
